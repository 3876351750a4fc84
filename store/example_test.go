package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/wasmtask/wasmtask/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "wasmtask-store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var s store.Store
	s, err = store.Open(filepath.Join(dir, "wasmtask.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	w := store.Webtask{Container: "acme", Name: "hello", ModuleSHA256: hex.EncodeToString(sum[:])}

	created, _ := s.PutWebtask(w, module)
	fmt.Println("created:", created)

	w.Name = "hello-again" // same module: no bytes needed, stored once
	created, _ = s.PutWebtask(w, nil)
	fmt.Println("created:", created)

	w.Policy = "fresh" // replace: keeps Created, stamps Updated
	created, _ = s.PutWebtask(w, nil)
	fmt.Println("created:", created)

	refs, _ := s.ModuleRefs(w.ModuleSHA256)
	list, _ := s.ListWebtasks("acme")
	fmt.Println("module refs:", refs)
	for _, w := range list {
		fmt.Println(w.Container, w.Name, w.ModuleSize)
	}
	// Output:
	// created: true
	// created: true
	// created: false
	// module refs: 2
	// acme hello 8
	// acme hello-again 8
}
