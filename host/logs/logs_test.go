package logs

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestHub_RoutesByContainer(t *testing.T) {
	h := NewHub()
	a := h.Subscribe("acme")
	b := h.Subscribe("other")
	defer h.Unsubscribe(a)
	defer h.Unsubscribe(b)

	h.Log("acme", "hello", "r1", 3, []byte("boom"))
	select {
	case rec := <-a.C:
		if rec.Msg != "boom" || rec.Level != LevelError || rec.Name != "hello" || rec.RequestID != "r1" {
			t.Fatalf("record = %+v", rec)
		}
	default:
		t.Fatal("subscriber of acme got nothing")
	}
	select {
	case rec := <-b.C:
		t.Fatalf("subscriber of another container got %+v", rec)
	default:
	}
}

func TestHub_SlowSubscriberDrops(t *testing.T) {
	h := NewHub()
	s := h.Subscribe("acme")
	for i := 0; i < cap(s.C)+10; i++ {
		h.Log("acme", "", "", 1, []byte("x"))
	}
	if s.Dropped() != 10 {
		t.Fatalf("dropped = %d, want 10", s.Dropped())
	}
	h.Unsubscribe(s)
	if h.Listening("acme") {
		t.Fatal("still listening after unsubscribe")
	}
}

func TestHub_Hammer(t *testing.T) {
	h := NewHub()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				s := h.Subscribe("c")
				h.Unsubscribe(s)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				h.Log("c", "n", "r", 1, []byte("line"))
			}
		}()
	}
	wg.Wait()
}

func BenchmarkHub_LogNoSubscriber(b *testing.B) {
	h := NewHub()
	msg := []byte("hello")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Log("acme", "hello", "r", 1, msg)
	}
}

// TestRecord_JSON: a record is a bunyan record on the wire (numeric level,
// v 0), and reads back from a number or a level name.
func TestRecord_JSON(t *testing.T) {
	b, err := json.Marshal(Record{Container: "acme", Level: FromABI(2), Msg: "careful"})
	if err != nil || !strings.Contains(string(b), `"level":40`) || !strings.Contains(string(b), `"v":0`) {
		t.Fatalf("%s %v", b, err)
	}
	for in, want := range map[string]Level{`{"level":50}`: LevelError, `{"level":"debug"}`: LevelDebug, `{"level":"odd"}`: LevelInfo} {
		var r Record
		if err := json.Unmarshal([]byte(in), &r); err != nil || r.Level != want {
			t.Errorf("%s: %v %v, want %v", in, r.Level, err, want)
		}
	}
	if FromABI(9) != LevelInfo || LevelWarn.String() != "warn" {
		t.Error("levels")
	}
}
