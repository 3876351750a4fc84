package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// recordVersion is the schema version written into every webtask record.
//
// Adding a field is not a version change: encoding/json ignores fields it does
// not know, so older binaries read newer records and newer binaries read older
// ones (the new field is zero). The version is bumped only when the meaning of
// an existing field changes; a reader then refuses records newer than it
// understands instead of misreading them.
const recordVersion = 1

// record is the JSON form of a Webtask. Container and name are not stored:
// they are the bucket and the key the record lives under.
type record struct {
	V            int               `json:"v"`
	ModuleSHA256 string            `json:"module_sha256"`
	ModuleSize   int64             `json:"module_size"`
	Meta         map[string]string `json:"meta,omitempty"`
	Secrets      []byte            `json:"secrets,omitempty"`
	Policy       string            `json:"policy,omitempty"`
	Token        string            `json:"token,omitempty"`
	Kind         string            `json:"kind,omitempty"`
	Created      time.Time         `json:"created"`
	Updated      time.Time         `json:"updated"`
}

func encodeWebtask(w Webtask) ([]byte, error) {
	r := record{
		V:            recordVersion,
		ModuleSHA256: w.ModuleSHA256,
		ModuleSize:   w.ModuleSize,
		Meta:         w.Meta,
		Secrets:      w.Secrets,
		Policy:       w.Policy,
		Token:        w.Token,
		Kind:         w.Kind,
		Created:      w.Created,
		Updated:      w.Updated,
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: encode webtask %q/%q: %w", w.Container, w.Name, err)
	}
	return b, nil
}

// decodeWebtask decodes the record stored under container/name; v is nil
// when a nested bucket sits where the record should be. A record it cannot
// read comes back with Container, Name and Damaged set and every other field
// zero. json.Unmarshal allocates every string and slice it returns, so the
// result does not alias v, which may be bbolt memory valid only inside the
// transaction.
func decodeWebtask(container, name string, v []byte) Webtask {
	damaged := func(format string, args ...any) Webtask {
		return Webtask{Container: container, Name: name, Damaged: fmt.Sprintf(format, args...)}
	}
	if v == nil {
		return damaged("a bucket is stored where the record should be")
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return damaged("record does not decode: %v", err)
	}
	if r.V < 1 || r.V > recordVersion {
		return damaged("unsupported record version %d (this binary reads up to %d)", r.V, recordVersion)
	}
	if checkSHA(r.ModuleSHA256) != nil {
		return damaged("module_sha256 is not 64 lower-case hex digits")
	}
	w := Webtask{
		Container:    container,
		Name:         name,
		ModuleSHA256: r.ModuleSHA256,
		ModuleSize:   r.ModuleSize,
		Meta:         r.Meta,
		Secrets:      r.Secrets,
		Policy:       r.Policy,
		Token:        r.Token,
		Kind:         r.Kind,
		Created:      r.Created,
		Updated:      r.Updated,
	}
	if len(w.Meta) == 0 {
		w.Meta = nil
	}
	if len(w.Secrets) == 0 {
		w.Secrets = nil
	}
	return w
}

// damagedErr is the error for reading the damaged webtask w in op.
func damagedErr(op string, w Webtask) error {
	return fmt.Errorf("store: %s %q/%q: %s (delete the webtask and deploy it again): %w",
		op, w.Container, w.Name, w.Damaged, ErrDamaged)
}
