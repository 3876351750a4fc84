package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmtask/wasmtask/host/logs"
)

// client holds what every client command needs: where the server is and
// which token to send.
type client struct {
	server string
	token  string
	http   *http.Client
	stdout io.Writer
}

// clientFlags registers --server, --token and --container on fs.
func clientFlags(fs *flag.FlagSet) (server, token, container *string) {
	server = fs.String("server", envOr("WASMTASK_SERVER", "http://127.0.0.1:8080"), "server URL (env WASMTASK_SERVER)")
	token = fs.String("token", os.Getenv("WASMTASK_TOKEN"), "token (env WASMTASK_TOKEN; default: ./data/admin.token when present)")
	container = fs.String("container", os.Getenv("WASMTASK_CONTAINER"), "container (env WASMTASK_CONTAINER)")
	return
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newClient(server, token string, stdout io.Writer) *client {
	if token == "" {
		if b, err := os.ReadFile(filepath.Join("data", "admin.token")); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	return &client{server: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: 2 * time.Minute}, stdout: stdout}
}

// apiError is a server error as the CLI reports it.
type apiError struct {
	Status int
	ID     string
	Msg    string
}

func (e *apiError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.ID, e.Msg)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Msg)
}

// do sends a request and returns the body of a 2xx answer, or an *apiError.
func (c *client) do(method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequest(method, c.server+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.server, unwrapURLError(err))
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		e := &apiError{Status: res.StatusCode}
		var j struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &j) == nil && j.Message != "" {
			e.ID, e.Msg = j.Error, j.Message
		} else {
			e.Msg = strings.TrimSpace(string(b))
			if e.Msg == "" {
				e.Msg = http.StatusText(res.StatusCode)
			}
		}
		return nil, e
	}
	return b, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// keyValues is a repeatable k=v flag.
type keyValues map[string]string

func (kv keyValues) String() string { return "" }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	kv[k] = v
	return nil
}

// parse parses flags allowing them after positional arguments
// ("create hello.wasm --name hello"), and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func needContainer(container string) error {
	if container == "" {
		return errors.New("--container is required (or set WASMTASK_CONTAINER)")
	}
	return nil
}

// cmdCreate: wasmtask create FILE.wasm --name N --container C [--secret k=v] [--meta k=v]
func cmdCreate(c *client, container, name string, file string, secrets, meta keyValues) error {
	if err := needContainer(container); err != nil {
		return err
	}
	wasm, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	body, _ := json.Marshal(map[string]any{"code": base64.StdEncoding.EncodeToString(wasm), "secrets": secrets, "meta": meta})
	b, err := c.do("PUT", "/api/webtask/"+url.PathEscape(container)+"/"+url.PathEscape(name), bytes.NewReader(body), "application/json")
	if err != nil {
		return err
	}
	var info struct {
		URL    string `json:"url"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	_ = json.Unmarshal(b, &info)
	fmt.Fprintf(c.stdout, "Webtask created (%d bytes, sha256 %.12s)\n\nYou can access your webtask at the following url:\n\n%s\n", info.Size, info.SHA256, info.URL)
	return nil
}

// cmdList: wasmtask ls --container C [--meta k:v]
func cmdList(c *client, container string, metaFilters []string, asJSON bool) error {
	if err := needContainer(container); err != nil {
		return err
	}
	q := url.Values{}
	for _, m := range metaFilters {
		q.Add("meta", m)
	}
	path := "/api/webtask/" + url.PathEscape(container)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	b, err := c.do("GET", path, nil, "")
	if err != nil {
		return err
	}
	if asJSON {
		_, err = c.stdout.Write(append(b, '\n'))
		return err
	}
	var items []struct {
		Name    string    `json:"name"`
		Size    int64     `json:"size"`
		Policy  string    `json:"policy"`
		Secrets []string  `json:"secrets"`
		Updated time.Time `json:"updated"`
		URL     string    `json:"url"`
	}
	if err := json.Unmarshal(b, &items); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	if len(items) == 0 {
		fmt.Fprintf(c.stdout, "no webtasks in container %s\n", container)
		return nil
	}
	for _, it := range items {
		fmt.Fprintf(c.stdout, "%-24s %9d B  %-5s  %d secret(s)  %s  %s\n", it.Name, it.Size, it.Policy, len(it.Secrets),
			it.Updated.Local().Format("2006-01-02 15:04"), it.URL)
	}
	return nil
}

// cmdRemove: wasmtask rm NAME --container C
func cmdRemove(c *client, container, name string) error {
	if err := needContainer(container); err != nil {
		return err
	}
	if _, err := c.do("DELETE", "/api/webtask/"+url.PathEscape(container)+"/"+url.PathEscape(name), nil, ""); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Removed webtask %s from container %s\n", name, container)
	return nil
}

// cmdLogs: wasmtask logs --container C — streams until interrupted (or max lines).
func cmdLogs(c *client, container string, max int, raw bool) error {
	if err := needContainer(container); err != nil {
		return err
	}
	req, err := http.NewRequest("GET", c.server+"/api/logs/tenant/"+url.PathEscape(container), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.server, unwrapURLError(err))
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		var j struct{ Error, Message string }
		_ = json.Unmarshal(b, &j)
		return &apiError{Status: res.StatusCode, ID: j.Error, Msg: j.Message}
	}
	fmt.Fprintf(c.stdout, "Connected to streaming logs of container %s (Ctrl-C to stop)\n", container)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if raw {
			fmt.Fprintln(c.stdout, data)
		} else {
			var r struct {
				Time      time.Time  `json:"time"`
				Name      string     `json:"name"`
				RequestID string     `json:"request_id"`
				Level     logs.Level `json:"level"`
				Msg       string     `json:"msg"`
			}
			if json.Unmarshal([]byte(data), &r) != nil {
				continue
			}
			fmt.Fprintf(c.stdout, "%s %-5s %s: %s\n", r.Time.Local().Format("15:04:05.000"), r.Level, r.Name, r.Msg)
		}
		if n++; max > 0 && n >= max {
			return nil
		}
	}
	return sc.Err()
}
