//go:build !wasip1

package wasmtask

import (
	"errors"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/abi"
)

// TestContext_Fetch: the request reaches the host as given (headers as
// NUL pairs), the response comes back whole through the buffer rule (a
// body larger than the first buffer), and each failure kind is told
// apart with the host's message.
func TestContext_Fetch(t *testing.T) {
	h := newFakeHost(t)
	c := &Context{}
	if _, err := c.Fetch(HTTPRequest{URL: "https://api.example.com/"}); !errors.Is(err, ErrHTTPDenied) || !strings.Contains(err.Error(), "no outbound policy") {
		t.Fatalf("without a policy: %v", err)
	}
	big := strings.Repeat("b", 5000)
	h.fetch = func(method, url string, headers map[string]string, body []byte) fakeResponse {
		if method != "POST" || url != "https://api.example.com/sms" || headers["authorization"] != "Basic dTpw" ||
			headers["content-type"] != "application/json" || string(body) != `{"to":"1"}` {
			t.Errorf("host saw %s %s %v %q", method, url, headers, body)
		}
		return fakeResponse{code: 201, headers: "content-type\x00text/plain\x00set-cookie\x00a\x00set-cookie\x00b\x00", body: big}
	}
	resp, err := c.Fetch(HTTPRequest{Method: "POST", URL: "https://api.example.com/sms",
		Header: map[string]string{"authorization": "Basic dTpw", "content-type": "application/json"}, Body: []byte(`{"to":"1"}`)})
	if err != nil || resp.Status != 201 || string(resp.Body) != big || resp.Header["content-type"][0] != "text/plain" || len(resp.Header["set-cookie"]) != 2 {
		t.Fatalf("fetch: %+v %v", resp, err)
	}
	for code, want := range map[int32]error{abi.HTTPDenied: ErrHTTPDenied, abi.HTTPFailed: ErrHTTPFailed,
		abi.HTTPTooLarge: ErrHTTPTooLarge, abi.HTTPTooMany: ErrHTTPTooMany, abi.HTTPInvalid: ErrHTTPInvalid} {
		h.fetch = func(string, string, map[string]string, []byte) fakeResponse {
			return fakeResponse{code: code, msg: "why"}
		}
		_, err := c.Fetch(HTTPRequest{URL: "http://x/"})
		var he *HTTPError
		if !errors.Is(err, want) || !errors.As(err, &he) || he.Message != "why" {
			t.Errorf("code %d: %v, want %v", code, err, want)
		}
	}
}
