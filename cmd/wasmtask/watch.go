package main

// The dev loop: create --watch (rebuild and upload on every change, with
// the logs streaming) and dev (the same against a server of its own).

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/wasmtask/wasmtask/host/api"
)

// interruptContext ends with Ctrl-C or SIGTERM.
func interruptContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// watchedExt are the files whose change rebuilds a folder.
var watchedExt = map[string]bool{".go": true, ".mod": true, ".sum": true, ".rs": true, ".c": true, ".h": true,
	".ts": true, ".wat": true, ".js": true, ".mjs": true, ".cjs": true, ".wasm": true, ".json": true}

// watchSource calls change (debounced) on every change of src until ctx
// ends.
func watchSource(ctx context.Context, src *source, change func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if src.dir {
		err = filepath.WalkDir(src.path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			switch d.Name() {
			case "node_modules", "target", "build", ".git":
				if p != src.path {
					return filepath.SkipDir
				}
			}
			return w.Add(p)
		})
	} else {
		err = w.Add(filepath.Dir(src.entry)) // the folder: editors replace files by renaming
	}
	if err != nil {
		return err
	}
	relevant := func(name string) bool {
		if !src.dir {
			return name == src.entry
		}
		return watchedExt[strings.ToLower(filepath.Ext(name))]
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 && relevant(ev.Name) {
				timer = time.After(250 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			return err
		case <-timer:
			timer = nil
			change()
		}
	}
}

// watchAndDeploy streams name's logs and uploads src again on every change
// until ctx ends (Ctrl-C).
func watchAndDeploy(ctx context.Context, cl *client, b *builder, src *source, name string, up *upload) error {
	go func() {
		f := &logFilter{names: []string{name}, colour: isTerminal(cl.stdout)}
		if err := cl.followLogs(ctx, f, cl.stdout, nil); err != nil && ctx.Err() == nil {
			fmt.Fprintf(cl.stderr, "logs: %v\n", oneLine(err.Error()))
		}
	}()
	fmt.Fprintf(cl.stderr, "Watching %s for changes (Ctrl-C to stop)\n", src.path)
	return watchSource(ctx, src, func() {
		start := time.Now()
		info, err := deployOnce(ctx, cl, b, src, name, up)
		if err != nil {
			fmt.Fprintf(cl.stderr, "%s: %s\n", time.Now().Format("15:04:05"), oneLine(err.Error()))
			return
		}
		fmt.Fprintf(cl.stderr, "%s: uploaded %s (%d bytes, sha256 %.12s) in %s\n", time.Now().Format("15:04:05"),
			name, info.Size, info.SHA256, time.Since(start).Round(time.Millisecond))
	})
}

// newDevCmd: wasmtask dev FILE|DIR.
func newDevCmd(g *globals) *cobra.Command {
	o := &uploadOptions{}
	var addr string
	var noWatch bool
	c := &cobra.Command{
		Use:   "dev [FILE|DIR]",
		Short: "Serve one webtask locally, rebuilt on every change",
		Long: `Start a server of its own on --addr with a throwaway data folder, build and
deploy the webtask there (container "dev" unless --container), print its URL,
stream its logs, and rebuild and deploy it again on every change, until
Ctrl-C. Nothing is kept.`,
		Example: `  wasmtask dev hello.rs
  wasmtask dev ./myproject --secret API_KEY=abc --addr 127.0.0.1:9000`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) > 0 {
				path = args[0]
			}
			o.watch = !noWatch
			ctx, stop := interruptContext(cmd.Context())
			defer stop()
			return devServe(ctx, g, o, addr, path)
		},
	}
	o.register(c, false)
	_ = c.Flags().MarkHidden("watch")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	c.Flags().BoolVar(&noWatch, "no-watch", false, "deploy once and serve, without watching for changes")
	return c
}

// devServe runs dev until ctx ends.
func devServe(ctx context.Context, g *globals, o *uploadOptions, addr, path string) error {
	up, err := o.fields()
	if err != nil {
		return err
	}
	src, err := detect(path)
	if err != nil {
		return err
	}
	b := &builder{sdkFlag: o.sdk}
	dataDir, err := os.MkdirTemp("", "wasmtask-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	cfg := api.Config{DataDir: dataDir}
	if src.lang == langJS {
		if sdk, err := b.sdkDir(); err == nil {
			if eng := filepath.Join(sdk, "build", "js", "engine.wasm"); fileExists(eng) {
				cfg.JSEngine = eng
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv, err := api.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()

	cl := &client{target: target{url: "http://" + ln.Addr().String(), container: first(g.container, "dev"), token: srv.AdminToken()},
		http: newHTTPClient(g.timeout), stdout: g.stdout, stderr: g.stderr}
	name := first(o.name, src.defaultName())
	info, err := deployOnce(ctx, cl, b, src, name, up)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Serving %s (%s) at\n\n%s\n\nData in %s (removed on exit). Ctrl-C to stop.\n", name, src.lang, info.URL, dataDir)
	if !o.watch {
		<-ctx.Done()
		return nil
	}
	return watchAndDeploy(ctx, cl, b, src, name, up)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
