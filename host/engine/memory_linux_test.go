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

// copyWritten restores exactly the pages written since the image was
// mapped, through PAGEMAP_SCAN and through /proc/self/pagemap: more
// written ranges than one scan returns (64), pages written again after a
// restore, pages only read, and a last partial page.
func Test_copyWritten(t *testing.T) {
	const pages = 400
	const size = pages*imagePage - 100
	want := make([]byte, size)
	for off := 0; off < size; off += 3 * imagePage {
		want[off] = byte(off/imagePage) | 1
	}
	img, err := newMemImage(want)
	if err != nil {
		t.Fatal(err)
	}
	defer img.close()
	for _, tc := range []struct {
		name string
		copy func(dst, src []byte) bool
	}{
		{"scan", func(dst, src []byte) bool { return copyScanned(pagemap(), dst, src) }},
		{"pagemap", func(dst, src []byte) bool { return copyPagemap(pagemap(), dst, src) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if pagemap() == nil {
				t.Skip("no /proc/self/pagemap")
			}
			region, err := unix.Mmap(-1, 0, pages*imagePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(region)
			m := &linearMemory{region: region, buf: region[:size]}
			if err := img.mapInto(m); err != nil {
				t.Fatal(err)
			}
			var sum byte
			for off := 0; off < size; off += imagePage / 2 { // read every page: present, still the image's
				sum += m.buf[off]
			}
			for round, step := range []int{2, 5, 1} { // 200 ranges, then fewer, then every page
				for off := imagePage / 3; off < size; off += step * imagePage {
					m.buf[off] ^= 0x5A
				}
				m.buf[size-1] = 0xEE
				if !tc.copy(m.buf, img.view) {
					if tc.name == "scan" && round == 0 {
						t.Skip("PAGEMAP_SCAN is not supported: Linux before 6.7")
					}
					t.Fatalf("round %d: the copy failed", round)
				}
				if i := firstDiff(m.buf, want); i >= 0 {
					t.Fatalf("round %d: byte %d (page %d) is %#x after the copy, the image has %#x", round, i, i/imagePage, m.buf[i], want[i])
				}
			}
			_ = sum
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
