package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmtask/wasmtask/host/logs"
)

// logFilter selects the records logs prints.
type logFilter struct {
	names    []string
	minLevel logs.Level
	max      int  // stop after this many records (0: never)
	raw      bool // print each record as its JSON line
	colour   bool
}

// logRecord is one record of the log stream (a bunyan record).
type logRecord struct {
	Time      time.Time  `json:"time"`
	Name      string     `json:"name"`
	RequestID string     `json:"request_id"`
	Level     logs.Level `json:"level"`
	Msg       string     `json:"msg"`
}

// parseLevel reads a level name (debug, info, warn, error).
func parseLevel(s string) (logs.Level, error) {
	switch strings.ToLower(s) {
	case "", "debug", "trace":
		return 0, nil
	case "info":
		return logs.LevelInfo, nil
	case "warn", "warning":
		return logs.LevelWarn, nil
	case "error", "fatal":
		return logs.LevelError, nil
	}
	return 0, usagef("--level must be debug, info, warn or error")
}

// newLogsCmd: wasmtask logs.
func newLogsCmd(g *globals) *cobra.Command {
	f := &logFilter{}
	var level string
	c := &cobra.Command{
		Use:   "logs",
		Short: "Follow a container's logs in real time",
		Long: `Stream the container's log records as they happen (Server-Sent Events from
GET /api/logs/tenant/{container}) until Ctrl-C, or --max records. Levels are
coloured on a terminal; -o json prints each record as the server sent it.`,
		Example: `  wasmtask logs
  wasmtask logs --name hello --level warn
  wasmtask logs -o json --max 10`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			if f.minLevel, err = parseLevel(level); err != nil {
				return err
			}
			f.raw = f.raw || g.json()
			f.colour = isTerminal(g.stdout)
			ctx, stop := interruptContext(cmd.Context())
			defer stop()
			connected := func() {
				if !f.raw {
					fmt.Fprintf(g.stderr, "Connected to the logs of container %s (Ctrl-C to stop)\n", cl.container)
				}
			}
			err = cl.followLogs(ctx, f, g.stdout, connected)
			if ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
	c.Flags().StringArrayVar(&f.names, "name", nil, "only this webtask's records (repeatable)")
	c.Flags().StringVar(&level, "level", "", "least level shown: debug, info, warn or error")
	c.Flags().IntVar(&f.max, "max", 0, "stop after this many records")
	c.Flags().BoolVar(&f.raw, "raw", false, "the same as -o json")
	_ = c.Flags().MarkHidden("raw")
	_ = c.RegisterFlagCompletionFunc("level", fixedCompletions("debug", "info", "warn", "error"))
	_ = c.RegisterFlagCompletionFunc("name", completeWebtasks(g))
	return c
}

// followLogs streams the container's logs to w until ctx ends, the stream
// ends, or f.max records. connected runs once the server has answered.
func (c *client) followLogs(ctx context.Context, f *logFilter, w io.Writer, connected func()) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url+"/api/logs/tenant/"+url.PathEscape(c.container), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := (&http.Client{}).Do(req) // no timeout: a stream
	if err != nil {
		return c.reachError(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return errorFrom(res.StatusCode, b)
	}
	if connected != nil {
		connected()
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var r logRecord
		if json.Unmarshal([]byte(data), &r) != nil || !f.match(&r) {
			continue
		}
		if f.raw {
			fmt.Fprintln(w, data)
		} else {
			fmt.Fprintln(w, f.format(&r))
		}
		if n++; f.max > 0 && n >= f.max {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}

func (f *logFilter) match(r *logRecord) bool {
	if r.Level < f.minLevel {
		return false
	}
	if len(f.names) == 0 {
		return true
	}
	for _, n := range f.names {
		if n == r.Name {
			return true
		}
	}
	return false
}

// format is one record as a line: time, level, webtask, message.
func (f *logFilter) format(r *logRecord) string {
	level := fmt.Sprintf("%-5s", r.Level)
	if f.colour {
		colour := "36" // cyan: debug
		switch {
		case r.Level >= logs.LevelError:
			colour = "31" // red
		case r.Level >= logs.LevelWarn:
			colour = "33" // yellow
		case r.Level >= logs.LevelInfo:
			colour = "32" // green
		}
		level = "\033[" + colour + "m" + level + "\033[0m"
	}
	return fmt.Sprintf("%s %s %s: %s", r.Time.Local().Format("15:04:05.000"), level, r.Name, r.Msg)
}
