package main

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"fmt"
	"io"
	"net/url"

	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/joho/godotenv"
	"github.com/spf13/cobra"
)

// webtaskInfo is the server's description of a webtask.
type webtaskInfo struct {
	Container string            `json:"container"`
	Name      string            `json:"name"`
	SHA256    string            `json:"sha256"`
	Size      int64             `json:"size"`
	URL       string            `json:"url"`
	Policy    string            `json:"policy"`
	Language  string            `json:"language"`
	Meta      map[string]string `json:"meta"`
	Secrets   json.RawMessage   `json:"secrets"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	Damaged   string            `json:"damaged,omitempty"`
	Token     string            `json:"token,omitempty"`
}

// secretNames reads the secrets field: names, or (decrypted) an object.
func (w *webtaskInfo) secretNames() []string {
	var names []string
	if json.Unmarshal(w.Secrets, &names) == nil {
		return names
	}
	var m map[string]string
	_ = json.Unmarshal(w.Secrets, &m)
	for k := range m {
		names = append(names, k)
	}
	return names
}

// uploadOptions are create's and update's flags.
type uploadOptions struct {
	name        string
	secrets     []string
	secretsFile string
	params      []string
	meta        []string
	parseBody   bool
	noMerge     bool
	// parseBodySet and noMergeSet: the flag was given (update keeps the
	// webtask's setting otherwise).
	parseBodySet, noMergeSet bool
	policy                   string
	watch                    bool
	sdk                      string
}

// upload is the JSON form of PUT /api/webtask/{c}/{n}.
type upload struct {
	Code    string            `json:"code"`
	Secrets map[string]string `json:"secrets,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	PB      int               `json:"pb,omitempty"`
	MB      int               `json:"mb,omitempty"`
}

// fields turns the flags into the upload's maps (the code comes later).
func (o *uploadOptions) fields() (*upload, error) {
	up := &upload{MB: 1}
	var err error
	if up.Secrets, err = keyValues("secret", o.secrets); err != nil {
		return nil, err
	}
	if o.secretsFile != "" {
		m, err := godotenv.Read(o.secretsFile)
		if err != nil {
			return nil, fmt.Errorf("--secrets-file: %w", err)
		}
		for k, v := range m {
			if _, set := up.Secrets[k]; !set { // --secret wins
				up.Secrets[k] = v
			}
		}
	}
	if up.Params, err = keyValues("param", o.params); err != nil {
		return nil, err
	}
	if up.Meta, err = keyValues("meta", o.meta); err != nil {
		return nil, err
	}
	switch o.policy {
	case "":
	case "fresh", "pool":
		up.Meta["wt-instance"] = o.policy
	default:
		return nil, usagef("--policy must be fresh or pool")
	}
	if o.parseBody {
		up.PB = 1
	}
	if o.noMerge {
		up.MB = 0
	}
	return up, nil
}

func (o *uploadOptions) register(c *cobra.Command, update bool) {
	f := c.Flags()
	if !update {
		f.StringVarP(&o.name, "name", "n", "", "webtask name (default: the file's or folder's name)")
	}
	f.StringArrayVarP(&o.secrets, "secret", "s", nil, "secret K=V, encrypted at rest (repeatable)")
	f.StringVar(&o.secretsFile, "secrets-file", "", "read secrets from a dotenv file (K=V lines)")
	f.StringArrayVarP(&o.params, "param", "p", nil, "public parameter K=V of the webtask's token (repeatable)")
	f.StringArrayVar(&o.meta, "meta", nil, "metadata K=V (repeatable)")
	f.BoolVar(&o.parseBody, "parse-body", false, "parse the request body for the webtask (pb=1; --parse-body=0: pb=0)")
	f.BoolVar(&o.noMerge, "no-merge", false, "do not merge the parsed body into context data (mb=0; --no-merge=0: mb=1)")
	f.StringVar(&o.policy, "policy", "", "instance policy: fresh (a new instance per request) or pool (meta wt-instance)")
	f.BoolVarP(&o.watch, "watch", "w", false, "keep watching: rebuild and upload again on every change, and stream the logs")
	f.StringVar(&o.sdk, "sdk", "", "the wasmtask guests/ folder with the SDKs (env WASMTASK_SDK; default: found above this folder)")
	_ = c.RegisterFlagCompletionFunc("policy", fixedCompletions("fresh", "pool"))
	_ = c.MarkFlagFilename("secrets-file")
}

// newCreateCmd: wasmtask create [file|dir], or wasmtask update NAME [file|dir].
func newCreateCmd(g *globals, update bool) *cobra.Command {
	o := &uploadOptions{}
	c := &cobra.Command{
		Use:   "create [FILE|DIR]",
		Short: "Build a webtask from source (or take a .wasm or .js) and upload it",
		Long: `Upload a webtask: a .wasm module, a .js file, or source in Go, Rust, C,
AssemblyScript or WAT (a file or a folder; the default is the current folder).
The language is told from the file's extension or the folder's files, the
module built with the language's toolchain in a temporary folder (guests/
README.md has the toolchains), and uploaded to the container. Prints the
run URL.

The SDKs come from the wasmtask repository's guests/ folder: --sdk, or
WASMTASK_SDK, or a guests/ folder above the current one or the binary.`,
		Example: `  wasmtask create hello.wat
  wasmtask create guests/rust/examples/hello.rs --name hello --secret API_KEY=abc
  wasmtask create ./myproject --secrets-file .env --policy fresh --watch
  wasmtask create hello.js -o json`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) > 0 {
				path = args[0]
			}
			o.parseBodySet, o.noMergeSet = cmd.Flags().Changed("parse-body"), cmd.Flags().Changed("no-merge")
			return createWebtask(cmd.Context(), g, o, "", path)
		},
	}
	if update {
		c.Use = "update NAME [FILE|DIR]"
		c.Short = "Upload new code for a webtask, keeping its secrets, meta and parameters"
		c.Long = `Build and upload new code for an existing webtask. Its secrets (read in clear:
the token must be the one that created it, or an ancestor), meta, parameters
and body flags are kept; flags given here are added over them.`
		c.Example = `  wasmtask update hello hello.rs
  wasmtask update hello ./myproject --secret API_KEY=new`
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want NAME [FILE|DIR], got %d argument(s)", len(args))
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) > 1 {
				path = args[1]
			}
			o.parseBodySet, o.noMergeSet = cmd.Flags().Changed("parse-body"), cmd.Flags().Changed("no-merge")
			return createWebtask(cmd.Context(), g, o, args[0], path)
		}
		c.ValidArgsFunction = completeWebtasks(g)
	}
	o.register(c, update)
	return c
}

// createWebtask builds and uploads once, then keeps doing so with --watch.
// updating names the webtask update keeps the settings of.
func createWebtask(ctx context.Context, g *globals, o *uploadOptions, updating, path string) error {
	cl, err := g.client(true)
	if err != nil {
		return err
	}
	up, err := o.fields()
	if err != nil {
		return err
	}
	src, err := detect(path)
	if err != nil {
		return err
	}
	name := first(updating, o.name, src.defaultName())
	if updating != "" {
		if up, err = cl.keepSettings(name, up, o); err != nil {
			return err
		}
	}
	b := &builder{sdkFlag: o.sdk}
	info, err := deployOnce(ctx, cl, b, src, name, up)
	if err != nil {
		return err
	}
	if g.json() {
		if err := writeJSON(g.stdout, info); err != nil {
			return err
		}
	} else {
		verb := "created"
		if updating != "" {
			verb = "updated"
		}
		fmt.Fprintf(g.stdout, "Webtask %s %s (%s, %d bytes, sha256 %.12s)\n\nYou can access your webtask at the following url:\n\n%s\n",
			name, verb, src.lang, info.Size, info.SHA256, info.URL)
	}
	if !o.watch {
		return nil
	}
	ctx, stop := interruptContext(ctx)
	defer stop()
	return watchAndDeploy(ctx, cl, b, src, name, up)
}

// deployOnce builds src and uploads it as name.
func deployOnce(ctx context.Context, cl *client, b *builder, src *source, name string, up *upload) (*webtaskInfo, error) {
	p := startProgress(cl.stderr, "building "+src.defaultName()+" ("+src.lang+")")
	code, err := b.build(ctx, src)
	p.done(err)
	if err != nil {
		return nil, err
	}
	body := *up
	if code.js {
		body.Code = string(code.bytes)
	} else {
		body.Code = base64.StdEncoding.EncodeToString(code.bytes)
	}
	p = startProgress(cl.stderr, fmt.Sprintf("uploading %s (%d bytes)", name, len(code.bytes)))
	res, err := cl.sendJSON("PUT", cl.webtaskPath(name), body)
	p.done(err)
	if err != nil {
		return nil, err
	}
	var info webtaskInfo
	if err := json.Unmarshal(res, &info); err != nil {
		return nil, fmt.Errorf("unexpected answer: %w", err)
	}
	return &info, nil
}

// keepSettings reads an existing webtask's secrets (in clear), meta,
// parameters and body flags, and lays the new flags over them.
func (c *client) keepSettings(name string, up *upload, o *uploadOptions) (*upload, error) {
	var info webtaskInfo
	if err := c.getJSON(c.webtaskPath(name)+"?decrypt=1", &info); err != nil {
		return nil, err
	}
	out := &upload{Secrets: map[string]string{}, Meta: map[string]string{}, Params: map[string]string{}, MB: up.MB, PB: up.PB}
	_ = json.Unmarshal(info.Secrets, &out.Secrets)
	for k, v := range info.Meta {
		out.Meta[k] = v
	}
	if info.Token != "" {
		var claims struct {
			PCtx map[string]string `json:"pctx"`
			PB   int               `json:"pb"`
			MB   int               `json:"mb"`
		}
		if err := c.getJSON("/api/tokens/inspect?token="+url.QueryEscape(info.Token), &claims); err == nil {
			for k, v := range claims.PCtx {
				out.Params[k] = v
			}
			if !o.parseBodySet {
				out.PB = claims.PB
			}
			if !o.noMergeSet {
				out.MB = claims.MB
			}
		}
	}
	for dst, src := range map[*map[string]string]map[string]string{&out.Secrets: up.Secrets, &out.Meta: up.Meta, &out.Params: up.Params} {
		for k, v := range src {
			(*dst)[k] = v
		}
	}
	return out, nil
}

// completeWebtasks completes a webtask name from the server.
func completeWebtasks(g *globals) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		cl, err := g.client(true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cl.http.Timeout = 3 * time.Second
		var items []webtaskInfo
		if cl.getJSON(cl.containerPath(), &items) != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// newLsCmd: wasmtask ls.
func newLsCmd(g *globals) *cobra.Command {
	var meta []string
	var asJSON bool
	c := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List the webtasks of a container",
		Example: `  wasmtask ls
  wasmtask ls --meta team=a -o json`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if asJSON {
				g.output = "json"
			}
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			filters, err := keyValues("meta", meta)
			if err != nil {
				return err
			}
			q := url.Values{"meta": pairsQuery(filters)}
			var items []webtaskInfo
			if err := cl.getJSON(cl.containerPath()+"?"+q.Encode(), &items); err != nil {
				return err
			}
			if g.json() {
				if items == nil {
					items = []webtaskInfo{}
				}
				return writeJSON(g.stdout, items)
			}
			if len(items) == 0 {
				fmt.Fprintf(g.stdout, "no webtasks in container %s\n", cl.container)
				return nil
			}
			t := newTable(g.stdout, "NAME", "LANGUAGE", "POLICY", "SIZE", "SECRETS", "UPDATED", "URL")
			for _, it := range items {
				if it.Damaged != "" {
					t.row(it.Name, "damaged: "+it.Damaged, "", "", "", "", "")
					continue
				}
				t.row(it.Name, it.Language, it.Policy, strconv.FormatInt(it.Size, 10), strconv.Itoa(len(it.secretNames())),
					it.Updated.Local().Format("2006-01-02 15:04"), it.URL)
			}
			return t.flush()
		},
	}
	c.Flags().StringArrayVar(&meta, "meta", nil, "only webtasks with this meta K=V (repeatable; all must match)")
	c.Flags().BoolVar(&asJSON, "json", false, "the same as -o json")
	_ = c.Flags().MarkHidden("json")
	return c
}

// newRmCmd: wasmtask rm NAME.
func newRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "rm NAME", Aliases: []string{"remove"}, Short: "Delete a webtask (its storage too)",
		Example: "  wasmtask rm hello", Args: exactArgs(1), ValidArgsFunction: completeWebtasks(g),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			if _, err := cl.do("DELETE", cl.webtaskPath(args[0]), nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Removed webtask %s from container %s\n", args[0], cl.container)
			return nil
		},
	}
}

// newInspectCmd: wasmtask inspect NAME [--decrypt] [--fetch-code].
func newInspectCmd(g *globals) *cobra.Command {
	var decrypt, fetchCode bool
	c := &cobra.Command{
		Use: "inspect NAME", Short: "Describe a webtask",
		Long: `Describe a webtask: size, hash, language, policy, meta, secret names and
its run URL. --decrypt shows the secrets' values: allowed for the token that
created the webtask or one it was issued from (403 otherwise).`,
		Example: "  wasmtask inspect hello\n  wasmtask inspect hello --decrypt -o json",
		Args:    exactArgs(1), ValidArgsFunction: completeWebtasks(g),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			q := url.Values{}
			if decrypt {
				q.Set("decrypt", "1")
			}
			if fetchCode {
				q.Set("fetch_code", "1")
			}
			b, err := cl.do("GET", cl.webtaskPath(args[0])+"?"+q.Encode(), nil, "")
			if err != nil {
				return err
			}
			if g.json() {
				return writeRawJSON(g.stdout, b)
			}
			var w webtaskInfo
			if err := json.Unmarshal(b, &w); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			if w.Damaged != "" {
				fmt.Fprintf(g.stdout, "name:     %s\ndamaged:  %s\n", w.Name, w.Damaged)
				return nil
			}
			fmt.Fprintf(g.stdout, "name:      %s\ncontainer: %s\nlanguage:  %s\npolicy:    %s\nsize:      %d bytes\nsha256:    %s\ncreated:   %s\nupdated:   %s\nurl:       %s\n",
				w.Name, w.Container, w.Language, w.Policy, w.Size, w.SHA256, w.Created.Local().Format(time.RFC3339),
				w.Updated.Local().Format(time.RFC3339), w.URL)
			for _, k := range sortedKeys(w.Meta) {
				fmt.Fprintf(g.stdout, "meta:      %s=%s\n", k, w.Meta[k])
			}
			var clear map[string]string
			if json.Unmarshal(w.Secrets, &clear) == nil {
				for _, k := range sortedKeys(clear) {
					fmt.Fprintf(g.stdout, "secret:    %s=%s\n", k, clear[k])
				}
			} else {
				for _, k := range w.secretNames() {
					fmt.Fprintf(g.stdout, "secret:    %s\n", k)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&decrypt, "decrypt", false, "show the secrets' values")
	c.Flags().BoolVar(&fetchCode, "fetch-code", false, "include the code (JSON output: base64 module or JavaScript)")
	return c
}

// progress shows a spinner with a message on a terminal, nothing elsewhere.
type progress struct {
	w     io.Writer
	msg   string
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startProgress(w io.Writer, msg string) *progress {
	p := &progress{w: w, msg: msg, start: time.Now()}
	if !isTerminal(w) {
		return p
	}
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		frames := `|/-\`
		t := time.NewTicker(120 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(p.w, "\r%c %s… %.0fs", frames[i%len(frames)], p.msg, time.Since(p.start).Seconds())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// done ends the spinner with a final line.
func (p *progress) done(err error) {
	if p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s (%.1fs)\n", mark, p.msg, time.Since(p.start).Seconds())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
