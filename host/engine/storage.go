package engine

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtask/wasmtask/abi"
)

// Storage is a named webtask's storage as its guest's storage calls reach
// it (abi/SPEC.md, "Storage"); the host's registry implements it.
type Storage interface {
	// Get returns the JSON text of the stored value (nil: nothing stored)
	// and its etag.
	Get() (data []byte, etag string, err error)
	// Put stores data (JSON text) when etag is the stored document's, or
	// always with force, and returns the new etag; ErrStorageConflict or
	// ErrStorageTooLarge (wrapped or not) when it writes nothing for
	// those reasons. A nil error means the write is durable.
	Put(data []byte, etag string, force bool) (string, error)
}

// Errors a Storage returns that the guest is told apart.
var (
	ErrStorageConflict = errors.New("engine: storage: etag is not current")
	ErrStorageTooLarge = errors.New("engine: storage: data too large")
)

// hostStorageGet answers the storage document as JSON.
func hostStorageGet(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	buf, bufLen := stack[0], stack[1]
	if c.req.Storage == nil {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	read(mod, buf, bufLen)
	data, etag, err := c.req.Storage.Get()
	if err != nil {
		storageLog(c, "storage get: "+err.Error())
		stack[0] = result(abi.StorageFailed)
		return
	}
	if data == nil {
		data = []byte("null")
	}
	e, _ := json.Marshal(etag)
	doc := make([]byte, 0, len(data)+len(e)+20)
	doc = append(append(append(append(append(doc, `{"data":`...), data...), `,"etag":`...), e...), '}')
	stack[0] = out(ctx, mod, buf, bufLen, len(doc), func(dst []byte) { copy(dst, doc) })
}

// hostStorageSet writes the storage and answers the new etag.
func hostStorageSet(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	data := read(mod, stack[0], stack[1])
	etag := read(mod, stack[2], stack[3])
	flags, buf, bufLen := uint32(stack[4]), stack[5], stack[6]
	read(mod, buf, bufLen)
	if c.req.Storage == nil {
		stack[0] = notFound
		return
	}
	var next string
	var err error
	c.away(ctx, func() { next, err = c.req.Storage.Put(data, string(etag), flags&abi.StorageForce != 0) }) // a durable write waits on the disk
	switch {
	case err == nil:
		stack[0] = outString(ctx, mod, buf, bufLen, next)
	case errors.Is(err, ErrStorageConflict):
		stack[0] = result(abi.StorageConflict)
	case errors.Is(err, ErrStorageTooLarge):
		stack[0] = result(abi.StorageTooLarge)
	default:
		storageLog(c, "storage set: "+err.Error())
		stack[0] = result(abi.StorageFailed)
	}
}

// result encodes a negative ABI result as the i32 the guest reads.
func result(v int32) uint64 { return uint64(uint32(v)) }

// storageLog tells the webtask's log why a storage call failed.
func storageLog(c *call, msg string) {
	if c.logger != nil {
		c.logger.Log(c.req.Container, c.req.Name, c.req.RequestID, abi.LogError, []byte(msg))
	}
}
