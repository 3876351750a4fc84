package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// client is what every client command talks to the server with.
type client struct {
	target
	http           *http.Client
	stdout, stderr io.Writer
}

func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout}
}

// apiError is an error answer of the server, as the CLI reports it.
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

func (c *client) containerPath() string { return "/api/webtask/" + url.PathEscape(c.container) }

func (c *client) webtaskPath(name string) string {
	return c.containerPath() + "/" + url.PathEscape(name)
}

// do sends a request with the token and returns the body of a 2xx answer,
// or an *apiError.
func (c *client) do(method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequest(method, c.url+path, body)
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
		return nil, c.reachError(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		return nil, errorFrom(res.StatusCode, b)
	}
	return b, nil
}

func (c *client) reachError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s did not answer in time: %w", c.url, ue.Err)
		}
		err = ue.Err
	}
	return fmt.Errorf("cannot reach %s: %w", c.url, err)
}

// errorFrom reads the server's error document {"code","error","message"}.
func errorFrom(status int, b []byte) *apiError {
	e := &apiError{Status: status}
	var j struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &j) == nil && j.Message != "" {
		e.ID, e.Msg = j.Error, j.Message
	} else if e.Msg = strings.TrimSpace(string(b)); e.Msg == "" {
		e.Msg = http.StatusText(status)
	}
	return e
}

// getJSON GETs path and decodes the answer into v.
func (c *client) getJSON(path string, v any) error {
	b, err := c.do("GET", path, nil, "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("unexpected answer from %s: %w", path, err)
	}
	return nil
}

// sendJSON sends v as JSON and returns the answer's body.
func (c *client) sendJSON(method, path string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return c.do(method, path, strings.NewReader(string(b)), "application/json")
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeRawJSON prints a JSON answer indented (as it came if it is not JSON).
func writeRawJSON(w io.Writer, b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		_, err := w.Write(b)
		return err
	}
	return writeJSON(w, v)
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// keyValues parses repeated K=V flags into a map; flag names the flag for
// the error.
func keyValues(flag string, vals []string) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range vals {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usagef("--%s: want key=value, got %q", flag, s)
		}
		m[k] = v
	}
	return m, nil
}

// pairsQuery turns K=V flags into the server's k:v query form.
func pairsQuery(vals map[string]string) []string {
	var out []string
	for k, v := range vals {
		out = append(out, k+":"+v)
	}
	return out
}
