//go:build wasip1

// Command sms is seed 004 ("Using Webtask for a custom Passwordless
// connection in Auth0"), the receiving end of Auth0's custom SMS gateway;
// the Go port of ../../../c/examples/sms.c, which quotes the seed. Auth0
// POSTs
//
//	{"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}
//
// and expects 200 once the message is on its way.
//
//   - Without the secret SMS_API_ID (the seed's first version) it logs the
//     message as JSON and answers 200.
//   - With it (the seed's section 4, "Plugging in a real SMS provider") it
//     POSTs the message to the provider (SMS_URL, a secret; Clickatell's API
//     by default) with Context.Fetch: query from, user (SMS_USERNAME),
//     password (SMS_PASSWORD), api_id, to, text, header user-agent
//     "Auth0 - Passwordless". A failed call, a status other than 200 or an
//     answer starting with ERR is 500 with the seed's message; otherwise
//     200. The admin allows the provider's host with
//     PUT /api/outbound/{container}.
//   - With the secret auth-token a request must carry
//     "Authorization: Bearer <auth-token>" (the seed's "Don't do this!"), or
//     401.
//
// Settings are read from context.data as the seed does (stored secrets win
// over the query), SMS_URL from the secrets only: a caller's ?SMS_URL= must
// not choose where the credentials go. Any other method or path answers
// 404; a body that is not a message answers 400.
package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

const defaultURL = "https://api.clickatell.com/http/sendmsg"

// message is what Auth0 sends; the fields are pointers so that a missing
// one is told apart from an empty one.
type message struct {
	Recipient *string `json:"recipient"`
	Body      *string `json:"body"`
	Sender    *string `json:"sender"`
}

func init() {
	r := wasmtask.NewRouter()
	r.Post("/", func(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
		if err := receive(ctx, w); err != nil {
			// A simple-model error: {"code":…,"error":…,"message":…}.
			wasmtask.Simple(func(*wasmtask.Context) (any, error) { return nil, err })(ctx, w)
		}
	})
	wasmtask.HandleRaw(r.Serve)
}

// authorized compares the bearer token with the auth-token secret, if set.
func authorized(ctx *wasmtask.Context) bool {
	want := ctx.Secret("auth-token")
	if want == "" {
		return true
	}
	given, ok := strings.CutPrefix(ctx.Header("authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(given), []byte(want)) == 1
}

func receive(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) error {
	if !authorized(ctx) {
		w.SetStatus(401)
		w.SetHeader("www-authenticate", "Bearer")
		return nil
	}
	var m message
	if json.Unmarshal(ctx.Body(), &m) != nil || m.Recipient == nil || m.Body == nil || m.Sender == nil {
		return wasmtask.Errorf(400, "expected a JSON object with string recipient, body and sender")
	}
	if ctx.Secret("SMS_API_ID") != "" {
		if err := send(ctx, *m.Recipient, *m.Body, *m.Sender); err != nil {
			return wasmtask.Errorf(500, "%s", err.Error())
		}
	} else {
		// console.log(req.body): one info line, as JSON (">" kept as is).
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(m)
		fmt.Print(b.String())
	}
	w.SetStatus(200)
	return nil
}

// send is the seed's section 4: the message through the provider. Its
// error is the message of the seed's next(err).
func send(ctx *wasmtask.Context, recipient, text, sender string) error {
	u := ctx.Secret("SMS_URL")
	if u == "" {
		u = defaultURL
	}
	q := &strings.Builder{}
	param := func(name, value string, ok bool) {
		if !ok { // absent: left out, as the request package's qs does
			return
		}
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(name + "=" + url.QueryEscape(value))
	}
	data := ctx.DataAll()
	setting := func(k string) (string, bool) { v, ok := data[k]; return v, ok }
	param("from", sender, true)
	v, ok := setting("SMS_USERNAME")
	param("user", v, ok)
	v, ok = setting("SMS_PASSWORD")
	param("password", v, ok)
	v, ok = setting("SMS_API_ID")
	param("api_id", v, ok)
	param("to", recipient, true)
	param("text", text, true)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	resp, err := ctx.Fetch(wasmtask.HTTPRequest{Method: "POST", URL: u + sep + q.String(),
		Header: map[string]string{"user-agent": "Auth0 - Passwordless"}})
	if err != nil {
		var he *wasmtask.HTTPError
		if errors.As(err, &he) {
			return errors.New("Send SMS - " + he.Message)
		}
		return errors.New("Send SMS - " + err.Error())
	}
	if resp.Status != 200 {
		return errors.New("Send SMS - request failed: " + strconv.Itoa(resp.Status))
	}
	if bytes.HasPrefix(resp.Body, []byte("ERR")) {
		return errors.New("Send SMS failed: " + string(resp.Body))
	}
	return nil
}

func main() {}
