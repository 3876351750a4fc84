package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// defaultURL is the server a client talks to when nothing names one.
const defaultURL = "http://127.0.0.1:8080"

// errNoProfile is a profile name that is not in the profiles file.
var errNoProfile = errors.New("no such profile")

// profile is one saved server, container and token.
type profile struct {
	URL       string `json:"url"`
	Container string `json:"container,omitempty"`
	Token     string `json:"token,omitempty"`
}

// profiles is the profiles file, os.UserConfigDir()/wasmtask/profiles.json
// (mode 0600 in a 0700 folder: it holds tokens).
type profiles struct {
	Default  string              `json:"default,omitempty"`
	Profiles map[string]*profile `json:"profiles"`
}

func profilesPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory for profiles: %w", err)
	}
	return filepath.Join(dir, "wasmtask", "profiles.json"), nil
}

// loadProfiles reads the profiles file; a missing file is no profiles.
func loadProfiles() (*profiles, error) {
	p := &profiles{Profiles: map[string]*profile{}}
	path, err := profilesPath()
	if err != nil {
		return p, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, p); err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	if p.Profiles == nil {
		p.Profiles = map[string]*profile{}
	}
	return p, nil
}

// save writes the file atomically, owner-only.
func (p *profiles) save() error {
	path, err := profilesPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	_ = os.Chmod(filepath.Dir(path), 0o700)
	b, _ := json.MarshalIndent(p, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".profiles-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// globals are the flags every client command shares, and where it writes.
type globals struct {
	stdout, stderr io.Writer

	profile   string
	url       string
	server    string // --server, the old name of --url (hidden)
	container string
	token     string
	output    string
	timeout   time.Duration
}

func (g *globals) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.profile, "profile", "", "profile to use (env WASMTASK_PROFILE; default: the default profile)")
	f.StringVar(&g.url, "url", "", "server URL (env WASMTASK_URL; default "+defaultURL+")")
	f.StringVar(&g.server, "server", "", "server URL (the old name of --url)")
	_ = f.MarkHidden("server")
	f.StringVarP(&g.container, "container", "c", "", "container (env WASMTASK_CONTAINER)")
	f.StringVar(&g.token, "token", "", "token (env WASMTASK_TOKEN; default: the profile's, else ./data/admin.token)")
	f.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	f.DurationVar(&g.timeout, "timeout", 2*time.Minute, "how long to wait for the server")
	_ = root.RegisterFlagCompletionFunc("output", fixedCompletions("text", "json"))
	_ = root.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		p, _ := loadProfiles()
		return p.names(), cobra.ShellCompDirectiveNoFileComp
	})
}

func fixedCompletions(words ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

func (p *profiles) names() []string {
	var n []string
	for k := range p.Profiles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// target is where a command goes: the resolved URL, container and token.
type target struct {
	url, container, token string
}

// resolve applies the order the root help documents: flags, environment,
// profile, defaults.
func (g *globals) resolve() (target, error) {
	var t target
	name := first(g.profile, os.Getenv("WASMTASK_PROFILE"))
	var prof profile
	p, err := loadProfiles()
	if err != nil && name != "" {
		return t, err
	}
	if name == "" {
		name = p.Default
		if name == "" {
			name = "default"
		}
		if pr := p.Profiles[name]; pr != nil {
			prof = *pr
		}
	} else if pr := p.Profiles[name]; pr != nil {
		prof = *pr
	} else {
		return t, fmt.Errorf("%w %q (wasmtask profile ls lists them; wasmtask init creates one)", errNoProfile, name)
	}
	t.url = first(g.url, g.server, os.Getenv("WASMTASK_URL"), os.Getenv("WASMTASK_SERVER"), prof.URL, defaultURL)
	t.container = first(g.container, os.Getenv("WASMTASK_CONTAINER"), prof.Container)
	t.token = first(g.token, os.Getenv("WASMTASK_TOKEN"), prof.Token)
	if t.token == "" {
		if b, err := os.ReadFile(filepath.Join("data", "admin.token")); err == nil {
			t.token = strings.TrimSpace(string(b))
		}
	}
	t.url = strings.TrimRight(t.url, "/")
	return t, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// client resolves the target and returns a client for it; withContainer
// requires a container.
func (g *globals) client(withContainer bool) (*client, error) {
	t, err := g.resolve()
	if err != nil {
		return nil, err
	}
	if withContainer && t.container == "" {
		return nil, usagef("--container is required (or WASMTASK_CONTAINER, or a profile: wasmtask init)")
	}
	if g.output != "text" && g.output != "json" {
		return nil, usagef("--output must be text or json")
	}
	return &client{target: t, http: newHTTPClient(g.timeout), stdout: g.stdout, stderr: g.stderr}, nil
}

func (g *globals) json() bool { return g.output == "json" }

// newInitCmd: wasmtask init — save a profile.
func newInitCmd(g *globals) *cobra.Command {
	var name string
	var noVerify bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Save a profile: server URL, container and token",
		Long: `Save a profile in ` + "`os.UserConfigDir()`/wasmtask/profiles.json" + ` (owner-only).
Values come from --url, --container and --token; on a terminal, what is
missing is asked for. The first profile saved becomes the default. With a
container and a token the profile is checked against the server first.`,
		Example: `  wasmtask init --url http://127.0.0.1:8080 --container acme --token "$(cat data/admin.token)"
  wasmtask init --name prod --url https://wt.example.com --container acme --token "$PROD_TOKEN"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr := profile{URL: first(g.url, g.server), Container: g.container, Token: g.token}
			if isTerminal(os.Stdin) {
				in := bufio.NewReader(os.Stdin)
				if pr.URL == "" {
					pr.URL = prompt(in, g.stderr, "Server URL", defaultURL)
				}
				if pr.Container == "" {
					pr.Container = prompt(in, g.stderr, "Container", "")
				}
				if pr.Token == "" {
					fmt.Fprint(g.stderr, "Token (hidden): ")
					b, _ := term.ReadPassword(int(os.Stdin.Fd()))
					fmt.Fprintln(g.stderr)
					pr.Token = strings.TrimSpace(string(b))
				}
			}
			pr.URL = strings.TrimRight(first(pr.URL, defaultURL), "/")
			if !noVerify && pr.Container != "" && pr.Token != "" {
				c := &client{target: target{url: pr.URL, container: pr.Container, token: pr.Token}, http: newHTTPClient(g.timeout)}
				if _, err := c.do("GET", c.containerPath()+"?limit=1", nil, ""); err != nil {
					return fmt.Errorf("profile not saved: %w (--no-verify saves it anyway)", err)
				}
			}
			p, err := loadProfiles()
			if err != nil {
				return err
			}
			if p.Default == "" {
				p.Default = name
			}
			p.Profiles[name] = &pr
			if err := p.save(); err != nil {
				return err
			}
			path, _ := profilesPath()
			fmt.Fprintf(g.stdout, "Profile %s saved in %s (%s, container %q)\n", name, path, pr.URL, pr.Container)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "default", "profile name")
	c.Flags().BoolVar(&noVerify, "no-verify", false, "save without checking the token against the server")
	return c
}

func prompt(in *bufio.Reader, out io.Writer, label, def string) string {
	if def != "" {
		fmt.Fprintf(out, "%s [%s]: ", label, def)
	} else {
		fmt.Fprintf(out, "%s: ", label)
	}
	line, _ := in.ReadString('\n')
	return first(strings.TrimSpace(line), def)
}

// newProfileCmd: wasmtask profile ls|get|rm|use.
func newProfileCmd(g *globals) *cobra.Command {
	complete := func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		p, _ := loadProfiles()
		return p.names(), cobra.ShellCompDirectiveNoFileComp
	}
	get := func(name string) (*profiles, *profile, error) {
		p, err := loadProfiles()
		if err != nil {
			return nil, nil, err
		}
		pr := p.Profiles[name]
		if pr == nil {
			return nil, nil, fmt.Errorf("%w %q", errNoProfile, name)
		}
		return p, pr, nil
	}
	var showToken bool
	ls := &cobra.Command{
		Use: "ls", Short: "List the saved profiles", Args: noArgs,
		Example: "  wasmtask profile ls\n  wasmtask profile ls -o json --show-token",
		RunE: func(*cobra.Command, []string) error {
			p, err := loadProfiles()
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, redactAll(p, showToken))
			}
			if len(p.Profiles) == 0 {
				fmt.Fprintln(g.stdout, "no profiles (wasmtask init saves one)")
				return nil
			}
			tw := newTable(g.stdout, "", "NAME", "URL", "CONTAINER", "TOKEN")
			for _, n := range p.names() {
				pr := p.Profiles[n]
				mark := ""
				if n == p.Default {
					mark = "*"
				}
				tw.row(mark, n, pr.URL, pr.Container, redact(pr.Token, showToken))
			}
			return tw.flush()
		},
	}
	getCmd := &cobra.Command{
		Use: "get NAME", Short: "Show one profile", Args: exactArgs(1), ValidArgsFunction: complete,
		Example: "  wasmtask profile get default\n  wasmtask profile get prod --show-token",
		RunE: func(_ *cobra.Command, args []string) error {
			_, pr, err := get(args[0])
			if err != nil {
				return err
			}
			out := *pr
			out.Token = redact(out.Token, showToken)
			if g.json() {
				return writeJSON(g.stdout, out)
			}
			fmt.Fprintf(g.stdout, "url:       %s\ncontainer: %s\ntoken:     %s\n", out.URL, out.Container, out.Token)
			return nil
		},
	}
	for _, c := range []*cobra.Command{ls, getCmd} {
		c.Flags().BoolVar(&showToken, "show-token", false, "print the token in full")
	}
	rm := &cobra.Command{
		Use: "rm NAME", Short: "Delete a profile", Args: exactArgs(1), ValidArgsFunction: complete,
		Example: "  wasmtask profile rm staging",
		RunE: func(_ *cobra.Command, args []string) error {
			p, _, err := get(args[0])
			if err != nil {
				return err
			}
			delete(p.Profiles, args[0])
			if p.Default == args[0] {
				p.Default = ""
			}
			if err := p.save(); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Profile %s deleted\n", args[0])
			return nil
		},
	}
	use := &cobra.Command{
		Use: "use NAME", Short: "Make a profile the default", Args: exactArgs(1), ValidArgsFunction: complete,
		Example: "  wasmtask profile use prod\n  wasmtask ls --profile staging   # one command with another profile",
		RunE: func(_ *cobra.Command, args []string) error {
			p, _, err := get(args[0])
			if err != nil {
				return err
			}
			p.Default = args[0]
			if err := p.save(); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Profile %s is the default\n", args[0])
			return nil
		},
	}
	return group("profile", "Saved profiles: ls, get, rm, use", ls, getCmd, rm, use)
}

// redact shows a token's first characters only, unless show.
func redact(tok string, show bool) string {
	if show || tok == "" {
		return tok
	}
	if len(tok) > 12 {
		return tok[:8] + "…"
	}
	return "…"
}

func redactAll(p *profiles, show bool) *profiles {
	out := &profiles{Default: p.Default, Profiles: map[string]*profile{}}
	for k, v := range p.Profiles {
		c := *v
		c.Token = redact(c.Token, show)
		out.Profiles[k] = &c
	}
	return out
}

// isTerminal reports whether w is a terminal (progress, colours and prompts
// only then).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
