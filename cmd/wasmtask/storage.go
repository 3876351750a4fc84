package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// newStorageCmd: wasmtask storage get|set — a webtask's storage document.
func newStorageCmd(g *globals) *cobra.Command {
	get := &cobra.Command{
		Use: "get NAME", Short: "Print a webtask's stored data (and its etag on stderr)",
		Example: "  wasmtask storage get visits\n  wasmtask storage get visits -o json   # {\"data\": …, \"etag\": …}",
		Args:    exactArgs(1), ValidArgsFunction: completeWebtasks(g),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			b, err := cl.do("GET", cl.webtaskPath(args[0])+"/data", nil, "")
			if err != nil {
				return err
			}
			if g.json() {
				return writeRawJSON(g.stdout, b)
			}
			var doc struct {
				Data *string `json:"data"`
				ETag string  `json:"etag"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			if doc.Data == nil {
				fmt.Fprintln(g.stdout, "null")
			} else if err := writeRawJSON(g.stdout, []byte(*doc.Data)); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "etag: %s\n", doc.ETag)
			return nil
		},
	}
	var etag, file string
	var force bool
	set := &cobra.Command{
		Use:   "set NAME [JSON]",
		Short: "Replace a webtask's stored data",
		Long: `Store a JSON document for the webtask: the argument, --file, or stdin ("-").
With --etag the write succeeds only if the data has not changed since that
etag was read (else 409, exit 5); without it, or with --force, it overwrites.
Prints the new etag.`,
		Example: `  wasmtask storage set visits '{"count": 0}'
  wasmtask storage set visits --file data.json --etag "$ETAG"`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want NAME [JSON], got %d argument(s)", len(args))
			}
			return nil
		},
		ValidArgsFunction: completeWebtasks(g),
		RunE: func(_ *cobra.Command, args []string) error {
			var data []byte
			var err error
			switch {
			case len(args) == 2 && file != "":
				return usagef("give the data as an argument or --file, not both")
			case len(args) == 2 && args[1] != "-":
				data = []byte(args[1])
			case file != "" && file != "-":
				if data, err = os.ReadFile(file); err != nil {
					return err
				}
			default:
				if data, err = io.ReadAll(os.Stdin); err != nil {
					return err
				}
			}
			if !json.Valid(data) {
				return usagef("the data is not JSON")
			}
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			body := map[string]any{"data": string(data)}
			if etag != "" {
				body["etag"] = etag
			}
			if force {
				body["force"] = true
			}
			b, err := cl.sendJSON("PUT", cl.webtaskPath(args[0])+"/data", body)
			if err != nil {
				return err
			}
			if g.json() {
				return writeRawJSON(g.stdout, b)
			}
			var res struct {
				ETag string `json:"etag"`
			}
			_ = json.Unmarshal(b, &res)
			fmt.Fprintf(g.stdout, "etag: %s\n", res.ETag)
			return nil
		},
	}
	set.Flags().StringVar(&etag, "etag", "", "write only if the stored data still has this etag")
	set.Flags().StringVarP(&file, "file", "f", "", "read the data from this file (- for stdin)")
	set.Flags().BoolVar(&force, "force", false, "overwrite whatever is stored")
	return group("storage", "A webtask's storage: get, set", get, set)
}
