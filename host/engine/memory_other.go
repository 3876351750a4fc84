//go:build !linux

package engine

import (
	"errors"

	"github.com/tetratelabs/wazero/experimental"
)

// On platforms other than Linux there is no memfd/madvise reset: the fresh
// policy instantiates a new module for every request.

type linearMemory struct{}

func (m *linearMemory) reset() error { return errors.New("memory reset needs Linux") }

type memAllocator struct{ mem *linearMemory }

func (a *memAllocator) Allocate(_, _ uint64) experimental.LinearMemory { return nil }

type memImage struct{}

func newMemImage([]byte) (*memImage, error)       { return nil, errors.New("memory images need Linux") }
func (img *memImage) mapInto(*linearMemory) error { return errors.New("memory images need Linux") }

const resetSupported = false
