//go:build wasip1

// Command work is three pieces of real work behind one webtask, for
// bench/'s work section (issue 17), answering exactly what its native Go
// baseline (bench/work.go) answers — the same code, here in a guest:
//
//	POST /json   a ~2 KB JSON document (bench/testdata/work.json), decoded
//	             with encoding/json into its struct: {"id": <order.customer.id>},
//	             400 when it does not decode or has no such id
//	POST /jwt    Authorization: Bearer <HS256 token> (seed 003's claims),
//	             key the secret jwt-secret, verified with golang-jwt:
//	             {"sub": <sub>}, else 401 Unauthorized
//	POST /hmac   any body (the harness sends 64 KiB), key the secret
//	             hmac-key: {"hmac": <hex HMAC-SHA256 of the body>}
//
// One typed simple-model handler switches on the path, so the JSON encoder
// of its answer is built while the module initialises (HandleSimple); init
// also decodes a small document and parses a token once, so encoding/json's
// and golang-jwt's per-type caches are in the snapshot a fresh instance
// starts from.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

// answer is every route's result; exactly one field is set.
type answer struct {
	ID   string `json:"id,omitempty"`
	Sub  string `json:"sub,omitempty"`
	HMAC string `json:"hmac,omitempty"`
}

// document is bench/testdata/work.json: an order event.
type document struct {
	Event      string `json:"event"`
	APIVersion string `json:"api_version"`
	Created    int64  `json:"created"`
	Livemode   bool   `json:"livemode"`
	Request    struct {
		ID             string `json:"id"`
		IdempotencyKey string `json:"idempotency_key"`
		IP             string `json:"ip"`
		UserAgent      string `json:"user_agent"`
	} `json:"request"`
	Items []struct {
		SKU        string            `json:"sku"`
		Name       string            `json:"name"`
		Quantity   int               `json:"quantity"`
		UnitPrice  int64             `json:"unit_price"`
		Currency   string            `json:"currency"`
		Tags       []string          `json:"tags"`
		Attributes map[string]string `json:"attributes"`
	} `json:"items"`
	Shipping struct {
		Name    string            `json:"name"`
		Method  string            `json:"method"`
		Cost    int64             `json:"cost"`
		Address map[string]string `json:"address"`
	} `json:"shipping"`
	Notes     string `json:"notes"`
	Discounts []struct {
		Code   string `json:"code"`
		Amount int64  `json:"amount"`
	} `json:"discounts"`
	Order struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
		Customer struct {
			Email string `json:"email"`
			Name  string `json:"name"`
			Since int64  `json:"since"`
			VIP   bool   `json:"vip"`
			ID    string `json:"id"`
		} `json:"customer"`
	} `json:"order"`
}

var unauthorized = &wasmtask.Error{Status: 401, Message: "Unauthorized"}

func init() {
	var d document
	_ = json.Unmarshal([]byte(`{"items":[{"tags":["a"],"attributes":{"k":"v"}}],"shipping":{"address":{"k":"v"}},"discounts":[{}]}`), &d)
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "init", "exp": 1}).SignedString([]byte("k"))
	_, _ = verify(tok, "k")
	wasmtask.HandleSimple(serve)
}

func serve(ctx *wasmtask.Context) (answer, error) {
	if ctx.Method() != "POST" {
		return answer{}, wasmtask.Errorf(404, "no route for %s %s", ctx.Method(), ctx.Path())
	}
	switch ctx.Path() {
	case "/json":
		var d document
		if err := json.Unmarshal(ctx.Body(), &d); err != nil || d.Order.Customer.ID == "" {
			return answer{}, wasmtask.Errorf(400, "no order.customer.id in the body")
		}
		return answer{ID: d.Order.Customer.ID}, nil
	case "/jwt":
		const prefix = "Bearer "
		key, h := ctx.Secret("jwt-secret"), ctx.Header("authorization")
		if key == "" || len(h) <= len(prefix) || h[:len(prefix)] != prefix {
			return answer{}, unauthorized
		}
		sub, ok := verify(h[len(prefix):], key)
		if !ok {
			return answer{}, unauthorized
		}
		return answer{Sub: sub}, nil
	case "/hmac":
		key := ctx.Secret("hmac-key")
		if key == "" {
			return answer{}, wasmtask.Errorf(500, "hmac-key is not set")
		}
		m := hmac.New(sha256.New, []byte(key))
		m.Write(ctx.Body())
		return answer{HMAC: hex.EncodeToString(m.Sum(nil))}, nil
	}
	return answer{}, wasmtask.Errorf(404, "no route for %s %s", ctx.Method(), ctx.Path())
}

// verify returns the sub claim of a valid HS256 token with an exp.
func verify(token, key string) (string, bool) {
	t, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(key), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return "", false
	}
	sub, ok := t.Claims.(jwt.MapClaims)["sub"].(string)
	return sub, ok && sub != ""
}

func main() {}
