// Package logs fans out the log lines of webtasks to real-time subscribers,
// per container. It keeps no history: like the original platform's
// real-time logs, a subscriber sees what is logged while it listens.
// Publishing with no subscriber costs one map lookup under a read lock.
package logs

import (
	"sync"
	"sync/atomic"
	"time"
)

// Record is one log line as subscribers see it (and as SSE sends it, one
// JSON object per "data:" line).
type Record struct {
	Time      time.Time `json:"time"`
	Container string    `json:"container"`
	Name      string    `json:"name,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Level     string    `json:"level"`
	Msg       string    `json:"msg"`
}

var levelNames = [...]string{"debug", "info", "warn", "error"}

// LevelName returns the name of an ABI log level.
func LevelName(level uint32) string {
	if int(level) < len(levelNames) {
		return levelNames[level]
	}
	return "info"
}

// Hub routes records to the subscribers of their container. The zero value
// is not usable; use NewHub.
type Hub struct {
	mu   sync.RWMutex
	subs map[string]map[*Subscription]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[*Subscription]struct{}{}} }

// Subscription receives the records of one container on C. A subscriber that
// falls behind loses records rather than slowing webtasks down; Dropped
// counts them.
type Subscription struct {
	C         chan Record
	container string
	dropped   atomic.Int64
}

// Dropped returns how many records did not fit in C.
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Subscribe starts listening to a container's records.
func (h *Hub) Subscribe(container string) *Subscription {
	s := &Subscription{C: make(chan Record, 256), container: container}
	h.mu.Lock()
	m := h.subs[container]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[container] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Unsubscribe stops s; C is not closed, so a reader should stop reading.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	if m := h.subs[s.container]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.container)
		}
	}
	h.mu.Unlock()
}

// Listening reports whether a container has subscribers, so callers can skip
// building records nobody reads.
func (h *Hub) Listening(container string) bool {
	h.mu.RLock()
	n := len(h.subs[container])
	h.mu.RUnlock()
	return n > 0
}

// Log publishes one line; it implements engine.Logger. msg is copied.
func (h *Hub) Log(container, name, requestID string, level uint32, msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	m := h.subs[container]
	if len(m) == 0 {
		return
	}
	rec := Record{Time: time.Now().UTC(), Container: container, Name: name, RequestID: requestID,
		Level: LevelName(level), Msg: string(msg)}
	for s := range m {
		select {
		case s.C <- rec:
		default:
			s.dropped.Add(1)
		}
	}
}
