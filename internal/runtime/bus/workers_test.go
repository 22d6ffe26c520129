package bus_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// TestWorkersMiddleware: the handler's result and error come back through the
// middleware; a panic comes back to the caller's goroutine (where watermill's Recoverer
// would catch it) and the pool goes on working; Close ends the workers, and a call after
// it still runs.
func TestWorkersMiddleware(t *testing.T) {
	before := runtime.NumGoroutine()
	p := bus.NewWorkers()
	boom := errors.New("boom")
	h := p.Middleware(func(msg *message.Message) ([]*message.Message, error) {
		switch string(msg.Payload) {
		case "panic":
			panic("handler panicked")
		case "fail":
			return nil, boom
		}
		return []*message.Message{msg}, nil
	})
	var wg sync.WaitGroup
	for i := range 50 { // concurrent calls, each on a worker of its own
		wg.Go(func() {
			msg := message.NewMessage("m", []byte{byte('a' + i%26)})
			if out, err := h(msg); err != nil || len(out) != 1 || out[0] != msg {
				t.Errorf("call %d: %v, %v", i, out, err)
			}
		})
	}
	wg.Wait()
	if _, err := h(message.NewMessage("f", []byte("fail"))); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "handler panicked" {
				t.Fatalf("recovered %v, want the handler's panic", r)
			}
		}()
		_, _ = h(message.NewMessage("p", []byte("panic")))
		t.Fatal("no panic")
	}()
	if out, err := h(message.NewMessage("ok", []byte("ok"))); err != nil || len(out) != 1 {
		t.Fatalf("after a panic: %v, %v", out, err)
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("%d goroutines, %d before: no idle workers kept", n, before)
	}
	p.Close()
	if out, err := h(message.NewMessage("ok", []byte("ok"))); err != nil || len(out) != 1 {
		t.Fatalf("after Close: %v, %v", out, err)
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines after Close, %d before the pool", n, before)
		}
		return nil
	})
}

// BenchmarkWorkers runs a handler that decodes and encodes a trigger the way the router
// runs it, one message at a time as in a lane: on a new goroutine per message (watermill)
// and through Workers. 300 parked goroutines stand for a service's others (connections,
// timers, the other lanes): the runtime starts a goroutine's stack at the average it saw
// at the last GC, and in a service that average is small.
func BenchmarkWorkers(b *testing.B) {
	in, err := os.ReadFile("../../../pkg/events/testdata/trigger_event_extras.golden.json")
	if err != nil {
		b.Fatal(err)
	}
	handler := func(*message.Message) ([]*message.Message, error) {
		e, err := events.UnmarshalTriggerEvent(in)
		if err != nil {
			return nil, err
		}
		_, err = e.Marshal()
		return nil, err
	}
	park := make(chan struct{})
	defer close(park)
	for range 300 {
		go func() { <-park }()
	}
	msg := message.NewMessage("m", nil)
	run := func(b *testing.B, h message.HandlerFunc) {
		b.ReportAllocs()
		for b.Loop() {
			errc := make(chan error, 1)
			go func() { _, err := h(msg); errc <- err }() // as watermill's router does
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("goroutine-per-message", func(b *testing.B) { run(b, handler) })
	b.Run("workers", func(b *testing.B) { run(b, bus.NewWorkers().Middleware(handler)) })
}
