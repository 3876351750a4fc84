//go:build linux

package engine

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// An image skips zero pages (its file is sparse) and still restores every
// byte: zero pages, data, a partial page at the end, and pages the
// instance wrote after mapping it.
func Test_memImage_sparse(t *testing.T) {
	const size = 10*imagePage + 100
	want := make([]byte, size)
	for _, off := range []int{0, 3*imagePage + 17, 4*imagePage - 1, 4 * imagePage, 9*imagePage + 5, size - 1} {
		want[off] = byte(off%251) + 1
	}
	img, err := newMemImage(want)
	if err != nil {
		t.Fatal(err)
	}
	defer img.close()
	var st unix.Stat_t
	if err := unix.Fstat(int(img.fd.fd.Load()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 > 6*imagePage {
		t.Errorf("image: size %d, %d bytes allocated; want %d, at most the 5 pages that hold data", st.Size, st.Blocks*512, size)
	}
	acct := &memAccount{limit: 1 << 30}
	region, err := acct.newRegion(16 * imagePage)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(region)
	m := &linearMemory{acct: acct, region: region, buf: region[:size]}
	for i := 0; i < 2; i++ {
		if err := img.mapInto(m); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.buf, want) {
			t.Fatalf("round %d: mapped memory differs from the image", i)
		}
		for j := range m.buf { // dirty every page, then reset
			m.buf[j] = 0xAA
		}
		if err := m.reset(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.buf, want) {
			t.Fatalf("round %d: reset memory differs from the image", i)
		}
	}
}
