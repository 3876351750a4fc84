package api

import (
	"regexp"
	"testing"
)

// nameRE is the rule validName implements by hand.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func Test_validName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"acme", true}, {"a", true}, {"wt-x-1.b_c", true}, {"0", true},
		{"", false}, {"-a", false}, {".a", false}, {"a/b", false}, {"a b", false}, {"ac$me", false},
		{"é", false}, {string(make([]byte, 65)), false},
		{"a234567890123456789012345678901234567890123456789012345678901234", true},
		{"a2345678901234567890123456789012345678901234567890123456789012345", false},
	}
	for _, tc := range tests {
		if got := validName(tc.name); got != tc.ok {
			t.Errorf("validName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// Fuzz_validName checks the hand-written rule against the regexp on any
// input: names come straight from request paths.
func Fuzz_validName(f *testing.F) {
	for _, s := range []string{"acme", "-x", "a.b", "", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validName(s) != nameRE.MatchString(s) {
			t.Fatalf("validName(%q) = %v, regexp says %v", s, validName(s), nameRE.MatchString(s))
		}
	})
}
