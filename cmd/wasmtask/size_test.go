package main

import "testing"

func Test_parseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"512", 512 << 20, true},
		{"4GiB", 4 << 30, true},
		{"1.5 GiB", 3 << 29, true},
		{"256mib", 256 << 20, true},
		{"100KiB", 100 << 10, true},
		{"1048576B", 1 << 20, true},
		{"4GB", 0, false},
		{"-1", 0, false},
		{"lots", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
