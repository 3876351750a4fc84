package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// tokenCommand runs "wasmtask token issue|revoke|inspect".
func tokenCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "issue" && args[0] != "revoke" && args[0] != "inspect") {
		fmt.Fprintln(stderr, "wasmtask token: want issue, revoke or inspect (wasmtask --help)")
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("wasmtask token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, tok, _ := clientFlags(fs)
	ten := fs.String("ten", "", "containers: a name, a comma list, or /regex/ (issue)")
	dd := fs.Int("dd", -1, "delegation depth (issue; default: one less than the caller's)")
	codeURL := fs.String("url", "", "code the token runs: sha256:<hex> of an uploaded module, or an allow-listed http(s) URL (issue)")
	codeFile := fs.String("code", "", "code the token runs: a .wasm file, sent inline (issue)")
	jtn := fs.String("name", "", "named webtask the token runs (issue)")
	secrets, params, limits := keyValues{}, keyValues{}, keyValues{}
	fs.Var(secrets, "secret", "encrypted secret key=value for ectx, repeatable (issue); the token must fix code (--url, --code or --name) in exactly one container (--ten NAME)")
	fs.Var(params, "param", "public parameter key=value for pctx, repeatable (issue)")
	fs.Var(limits, "limit", "rate limit claim=N, e.g. lm=600 or lts=5, repeatable (issue)")
	exp := fs.Duration("exp", 0, "valid for this long, e.g. 1h (issue)")
	nbf := fs.Duration("nbf", 0, "valid only after this delay (issue)")
	pb := fs.Bool("parse-body", false, "parse the request body (pb=1) (issue)")
	mb := fs.Bool("merge-body", false, "merge the body into data (mb=1) (issue)")
	dr := fs.Bool("no-self-revoke", false, "the token may not revoke itself (dr=1) (issue)")
	decrypt := fs.Bool("decrypt", false, "show ectx in clear; the caller must be an ancestor (inspect)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c := newClient(*server, *tok, stdout)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "wasmtask token %s: %v\n", sub, err)
		return 1
	}
	switch sub {
	case "issue":
		if len(pos) != 0 {
			fmt.Fprintf(stderr, "wasmtask token issue: unexpected argument %q\n", pos[0])
			return 2
		}
		claims := map[string]any{}
		if *ten != "" {
			claims["ten"] = *ten
		}
		if *dd >= 0 {
			claims["dd"] = *dd
		}
		if *codeURL != "" {
			claims["url"] = *codeURL
		}
		if *codeFile != "" {
			b, err := os.ReadFile(*codeFile)
			if err != nil {
				return fail(err)
			}
			claims["code"] = base64.StdEncoding.EncodeToString(b)
		}
		if *jtn != "" {
			claims["jtn"] = *jtn
		}
		if len(secrets) > 0 {
			claims["ectx"] = map[string]string(secrets)
		}
		if len(params) > 0 {
			claims["pctx"] = map[string]string(params)
		}
		for k, v := range limits {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fail(fmt.Errorf("--limit %s=%s: not a number", k, v))
			}
			claims[k] = n
		}
		now := time.Now()
		if *exp > 0 {
			claims["exp"] = now.Add(*exp).Unix()
		}
		if *nbf > 0 {
			claims["nbf"] = now.Add(*nbf).Unix()
		}
		for flagSet, claim := range map[*bool]string{pb: "pb", mb: "mb", dr: "dr"} {
			if *flagSet {
				claims[claim] = 1
			}
		}
		body, _ := json.Marshal(claims)
		b, err := c.do("POST", "/api/tokens/issue", bytes.NewReader(body), "application/json")
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, strings.TrimSpace(string(b)))
	case "revoke", "inspect":
		if len(pos) > 1 {
			fmt.Fprintf(stderr, "wasmtask token %s: want at most one token argument\n", sub)
			return 2
		}
		target := c.token // no argument: the caller's own token
		if len(pos) == 1 {
			target = pos[0]
		}
		q := "?token=" + url.QueryEscape(target)
		if sub == "revoke" {
			if _, err := c.do("POST", "/api/tokens/revoke"+q, nil, ""); err != nil {
				return fail(err)
			}
			fmt.Fprintln(stdout, "Token revoked, with every token issued from it")
			return 0
		}
		if *decrypt {
			q += "&decrypt=1"
		}
		b, err := c.do("GET", "/api/tokens/inspect"+q, nil, "")
		if err != nil {
			return fail(err)
		}
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") != nil {
			out.Write(b)
		}
		fmt.Fprintln(stdout, out.String())
	}
	return 0
}
