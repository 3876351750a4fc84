package store

import bolt "go.etcd.io/bbolt"

// Helpers for implementations of Store other than Bolt (store/etcd): the
// argument checks and the record codecs, shared so that a backend refuses
// the same arguments and a record means the same, and reads as damaged for
// the same reasons, whichever backend holds it. Callers of a Store do not
// need them.

// CheckWebtaskKey validates the container and name of a webtask (or of a
// cron job): non-empty, no NUL or "/", at most MaxKeyBytes. The error
// wraps ErrInvalid and carries no "store: " prefix; the caller adds its own.
func CheckWebtaskKey(container, name string) error { return checkWebtaskKey(container, name) }

// CheckName validates one name (what says which: "container",
// "namespace"...) by the rules of CheckWebtaskKey.
func CheckName(what, s string) error { return checkName(what, s) }

// CheckKVKey validates a KV namespace (as a container) and key (any bytes,
// non-empty, at most MaxKeyBytes).
func CheckKVKey(ns, key string) error { return checkKVKey(ns, key) }

// CheckSHA requires 64 lower-case hex digits (a module's SHA-256).
func CheckSHA(s string) error { return checkSHA(s) }

// EncodeWebtask is the JSON record of w (see record.go); Container, Name
// and Damaged are not stored.
func EncodeWebtask(w Webtask) ([]byte, error) { return encodeWebtask(w) }

// DecodeWebtask decodes the record stored for container/name. A record it
// cannot read comes back with only Container, Name and Damaged set; the
// result never aliases v.
func DecodeWebtask(container, name string, v []byte) Webtask {
	if v == nil {
		v = []byte{} // nil means "a bucket" to decodeWebtask
	}
	return decodeWebtask(container, name, v)
}

// DamagedError is the ErrDamaged error of op ("get webtask") for the
// damaged webtask w, as GetWebtask returns it.
func DamagedError(op string, w Webtask) error { return damagedErr(op, w) }

// EncodeCronJob is the JSON record of j; Container, Name and Damaged are
// not stored, times are stored in UTC.
func EncodeCronJob(j CronJob) ([]byte, error) { return encodeCronJob(j) }

// DecodeCronJob decodes the job record stored for container/name; an error
// wrapping ErrDamaged when it does not decode.
func DecodeCronJob(container, name string, v []byte) (CronJob, error) {
	if v == nil {
		v = []byte{}
	}
	return decodeCronJob(container, name, v)
}

// EncodeCronRun is the JSON record of one run of a job's history.
func EncodeCronRun(r CronRun) ([]byte, error) { return encodeCronRun(r) }

// DecodeCronRun decodes a run record of container/name's history; an error
// wrapping ErrDamaged when it does not decode.
func DecodeCronRun(container, name string, v []byte) (CronRun, error) {
	return decodeCronRun(container, name, v)
}

// MaxKeyBytes is the longest container, webtask name, KV namespace or KV
// key any backend accepts (bbolt's key limit); longer ones are ErrInvalid.
const MaxKeyBytes = 32768

// The limit is bbolt's; a backend with a larger one still refuses more.
var _ [MaxKeyBytes - bolt.MaxKeySize]struct{}
var _ [bolt.MaxKeySize - MaxKeyBytes]struct{}
