// Package logs fans out the log lines of webtasks to real-time subscribers,
// per container. It keeps no history: like the original platform's
// real-time logs, a subscriber sees what is logged while it listens.
// Publishing with no subscriber costs one map lookup under a read lock.
package logs

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one log line as subscribers see it (and as SSE sends it, one
// JSON object per "data:" line): a bunyan record, as the original
// platform streamed them and wt-cli's `wt logs` prints them — numeric
// level, msg, time, v 0 — with the webtask's container, name and request.
type Record struct {
	Time      time.Time `json:"time"`
	Container string    `json:"container"`
	Name      string    `json:"name,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Level     Level     `json:"level"`
	Msg       string    `json:"msg"`
	V         int       `json:"v"`
}

// Level is a record's level, bunyan's numbers: 20 debug, 30 info, 40
// warn, 50 error. It reads back from either a number or a name.
type Level int

// Bunyan levels.
const (
	LevelDebug Level = 20
	LevelInfo  Level = 30
	LevelWarn  Level = 40
	LevelError Level = 50
)

var abiLevels = [...]Level{LevelDebug, LevelInfo, LevelWarn, LevelError}

// FromABI returns the level of an ABI log level (abi.LogDebug…LogError);
// info for any other.
func FromABI(level uint32) Level {
	if int(level) < len(abiLevels) {
		return abiLevels[level]
	}
	return LevelInfo
}

// String is the level's name: debug, info, warn or error.
func (l Level) String() string {
	switch {
	case l < LevelInfo:
		return "debug"
	case l < LevelWarn:
		return "info"
	case l < LevelError:
		return "warn"
	}
	return "error"
}

// UnmarshalJSON reads a bunyan number or a level name.
func (l *Level) UnmarshalJSON(b []byte) error {
	var name string
	if json.Unmarshal(b, &name) == nil {
		for _, v := range abiLevels {
			if v.String() == name {
				*l = v
				return nil
			}
		}
		*l = LevelInfo
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*l = Level(n)
	return nil
}

// Hub routes records to the subscribers of their container. The zero value
// is not usable; use NewHub.
type Hub struct {
	mu      sync.RWMutex
	subs    map[string]map[*Subscription]struct{}
	dropped atomic.Int64 // all subscriptions together, for metrics
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

// Dropped returns how many records subscribers have lost, all together,
// since the hub was created.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

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
		Level: FromABI(level), Msg: string(msg)}
	for s := range m {
		select {
		case s.C <- rec:
		default:
			s.dropped.Add(1)
			h.dropped.Add(1)
		}
	}
}
