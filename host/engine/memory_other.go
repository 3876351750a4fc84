//go:build !linux

package engine

import "errors"

// On platforms other than Linux there is no memfd/madvise reset: the fresh
// policy instantiates a new module for every request, and memories are Go
// slices (memory.go's fallback), still charged to the budget.

type regionCache struct{}

func (c *regionCache) flush() {}

func (a *memAccount) newRegion(uint64) ([]byte, error) {
	return nil, errors.New("memory regions need Linux")
}

func (a *memAccount) freeRegion(*linearMemory) {}

func (m *linearMemory) reset() error { return errors.New("memory reset needs Linux") }

type memImage struct{}

func newMemImage([]byte) (*memImage, error)       { return nil, errors.New("memory images need Linux") }
func (img *memImage) close()                      {}
func (img *memImage) mapInto(*linearMemory) error { return errors.New("memory images need Linux") }
func (img *memImage) restoreInto([]byte) error    { return errors.New("memory images need Linux") }

const resetSupported = false
