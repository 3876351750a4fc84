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
		Created:      w.Created,
		Updated:      w.Updated,
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: encode webtask %q/%q: %w", w.Container, w.Name, err)
	}
	return b, nil
}

// decodeWebtask decodes a record. json.Unmarshal allocates every string and
// slice it returns, so the result does not alias data, which may be bbolt
// memory valid only inside the transaction.
func decodeWebtask(container, name string, data []byte) (Webtask, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return Webtask{}, fmt.Errorf("store: decode webtask %q/%q: %w", container, name, err)
	}
	if r.V < 1 || r.V > recordVersion {
		return Webtask{}, fmt.Errorf("store: decode webtask %q/%q: unsupported record version %d (this binary reads up to %d)",
			container, name, r.V, recordVersion)
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
		Created:      r.Created,
		Updated:      r.Updated,
	}
	if len(w.Meta) == 0 {
		w.Meta = nil
	}
	if len(w.Secrets) == 0 {
		w.Secrets = nil
	}
	return w, nil
}
