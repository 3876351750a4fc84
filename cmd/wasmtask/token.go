package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newTokenCmd: wasmtask token create|inspect|revoke.
func newTokenCmd(g *globals) *cobra.Command {
	return group("token", "Tokens: create (issue), inspect, revoke", newTokenCreateCmd(g), newTokenInspectCmd(g), newTokenRevokeCmd(g))
}

// claimFlags are token create's flags, one per claim.
type claimFlags struct {
	claims        string
	ten           string
	dd            int
	codeURL       string
	codeFile      string
	jtn           string
	secrets       []string
	params        []string
	meta          []string
	limits        []string
	exp, nbf      time.Duration
	pb, mb, noRev bool
}

// build is the claims: --claims first, every flag given over it.
func (f *claimFlags) build(c *cobra.Command) (map[string]any, error) {
	claims := map[string]any{}
	if f.claims != "" {
		s := f.claims
		if strings.HasPrefix(s, "@") {
			b, err := os.ReadFile(s[1:])
			if err != nil {
				return nil, err
			}
			s = string(b)
		}
		if err := json.Unmarshal([]byte(s), &claims); err != nil {
			return nil, usagef("--claims: not a JSON object: %v", err)
		}
	}
	set := c.Flags().Changed
	if set("ten") {
		claims["ten"] = f.ten
	}
	if set("dd") {
		claims["dd"] = f.dd
	}
	if set("code-url") {
		claims["url"] = f.codeURL
	}
	if set("code") {
		b, err := os.ReadFile(f.codeFile)
		if err != nil {
			return nil, err
		}
		claims["code"] = base64.StdEncoding.EncodeToString(b)
	}
	if set("name") {
		claims["jtn"] = f.jtn
	}
	if len(f.secrets) > 0 {
		m, err := keyValues("secret", f.secrets)
		if err != nil {
			return nil, err
		}
		claims["ectx"] = m
	}
	if len(f.params) > 0 {
		m, err := keyValues("param", f.params)
		if err != nil {
			return nil, err
		}
		claims["pctx"] = m
	}
	if len(f.meta) > 0 {
		m, err := keyValues("meta", f.meta)
		if err != nil {
			return nil, err
		}
		claims["meta"] = m
	}
	limits, err := keyValues("limit", f.limits)
	if err != nil {
		return nil, err
	}
	for k, v := range limits {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, usagef("--limit %s=%s: not a number", k, v)
		}
		claims[k] = n
	}
	now := time.Now()
	if f.exp > 0 {
		claims["exp"] = now.Add(f.exp).Unix()
	}
	if f.nbf > 0 {
		claims["nbf"] = now.Add(f.nbf).Unix()
	}
	// Given, each sets its claim to 1 or (--parse-body=0, =false) to 0,
	// over --claims and over what the child would inherit.
	for flag, b := range map[string]struct {
		claim string
		on    bool
	}{"parse-body": {"pb", f.pb}, "merge-body": {"mb", f.mb}, "no-self-revoke": {"dr", f.noRev}} {
		if set(flag) {
			claims[b.claim] = 0
			if b.on {
				claims[b.claim] = 1
			}
		}
	}
	return claims, nil
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	f := &claimFlags{}
	c := &cobra.Command{
		Use: "create", Aliases: []string{"issue"}, Short: "Issue a narrower token (printed)",
		Long: `Issue a token from yours, narrower or equal: every claim has a flag, or give
them all as --claims JSON (or @file.json); flags win over --claims. The
server refuses a child wider than its parent (403 naming the claim).`,
		Example: `  wasmtask token create --ten acme --limit lm=600 --exp 24h
  wasmtask token create --ten acme --name hello --secret API_KEY=abc
  wasmtask token create --ten acme --name hello --meta owner=ops --parse-body --merge-body=0
  wasmtask token create --claims '{"ten":"acme","dd":0}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			claims, err := f.build(cmd)
			if err != nil {
				return err
			}
			cl, err := g.client(false)
			if err != nil {
				return err
			}
			b, err := cl.sendJSON("POST", "/api/tokens/issue", claims)
			if err != nil {
				return err
			}
			tok := strings.TrimSpace(string(b))
			if g.json() {
				return writeJSON(g.stdout, map[string]string{"token": tok})
			}
			fmt.Fprintln(g.stdout, tok)
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.claims, "claims", "", "the claims as a JSON object, or @FILE")
	fl.StringVar(&f.ten, "ten", "", "containers: a name, a comma list, or /regex/")
	fl.IntVar(&f.dd, "dd", 0, "delegation depth (default: one less than yours)")
	fl.StringVar(&f.codeURL, "code-url", "", "code the token runs: sha256:<hex> of an uploaded module, or an allow-listed http(s) URL (url)")
	fl.StringVar(&f.codeFile, "code", "", "code the token runs: a .wasm or .js file, sent inline (code)")
	fl.StringVar(&f.jtn, "name", "", "named webtask the token runs (jtn)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "encrypted secret K=V (ectx; repeatable)")
	fl.StringArrayVar(&f.params, "param", nil, "public parameter K=V (pctx; repeatable)")
	fl.StringArrayVar(&f.meta, "meta", nil, "metadata K=V (meta; repeatable)")
	fl.StringArrayVar(&f.limits, "limit", nil, "rate limit CLAIM=N, e.g. lm=600 or lts=5 (repeatable)")
	fl.DurationVar(&f.exp, "exp", 0, "valid for this long, e.g. 1h")
	fl.DurationVar(&f.nbf, "nbf", 0, "valid only after this delay")
	fl.BoolVar(&f.pb, "parse-body", false, "parse the request body: pb=1; --parse-body=0 sets pb=0 (default: as the parent)")
	fl.BoolVar(&f.mb, "merge-body", false, "merge the parsed body into data: mb=1; --merge-body=0 sets mb=0 (default: as the parent)")
	fl.BoolVar(&f.noRev, "no-self-revoke", false, "the token may not revoke itself: dr=1; --no-self-revoke=0 sets dr=0")
	return c
}

// tokenArg is the token named on the command line, or the caller's own.
func tokenArg(cl *client, args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return cl.token
}

func newTokenInspectCmd(g *globals) *cobra.Command {
	var decrypt bool
	c := &cobra.Command{
		Use: "inspect [TOKEN]", Short: "Show a token's claims (default: your own token)",
		Example: "  wasmtask token inspect\n  wasmtask token inspect $T --decrypt",
		Args:    maxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(false)
			if err != nil {
				return err
			}
			q := "?token=" + url.QueryEscape(tokenArg(cl, args))
			if decrypt {
				q += "&decrypt=1"
			}
			b, err := cl.do("GET", "/api/tokens/inspect"+q, nil, "")
			if err != nil {
				return err
			}
			return writeRawJSON(g.stdout, b)
		},
	}
	c.Flags().BoolVar(&decrypt, "decrypt", false, "show ectx in clear (you must be an ancestor of the token)")
	return c
}

func newTokenRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "revoke [TOKEN]", Short: "Revoke a token and everything issued from it (default: your own)",
		Example: "  wasmtask token revoke $T",
		Args:    maxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(false)
			if err != nil {
				return err
			}
			if _, err := cl.do("POST", "/api/tokens/revoke?token="+url.QueryEscape(tokenArg(cl, args)), nil, ""); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "Token revoked, with every token issued from it")
			return nil
		},
	}
}
