package ui

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPageCacheBounds(t *testing.T) {
	pc := newPageCache(4, 1000)
	for i := range 10 {
		pc.put(fmt.Sprint(i), make([]byte, 100), time.Minute)
	}
	if len(pc.m) > 4 || pc.bytes != 100*len(pc.m) {
		t.Errorf("%d entries, %d bytes; want at most 4 and 100 each", len(pc.m), pc.bytes)
	}
	if _, ok := pc.get("9"); !ok {
		t.Errorf("the last page put is not there")
	}
	pc.put("big", make([]byte, 900), time.Minute) // over an eighth of the budget
	if _, ok := pc.get("big"); ok {
		t.Errorf("a page over an eighth of the budget was kept")
	}
	pc.put("9", make([]byte, 50), time.Minute)
	if pc.bytes != 100*(len(pc.m)-1)+50 {
		t.Errorf("replacing a page: %d bytes for %d entries", pc.bytes, len(pc.m))
	}
	pc.put("old", []byte("x"), -time.Second)
	if _, ok := pc.get("old"); ok {
		t.Errorf("an expired page was returned")
	}
}

// TestPageCacheClaim checks that of many concurrent requests for a missing
// page one builds it and the rest are answered from it, and that a builder
// that gives up hands the job to a waiter.
func TestPageCacheClaim(t *testing.T) {
	pc := newPageCache(16, 1<<20)
	ctx := context.Background()
	var builds atomic.Int32
	var wg sync.WaitGroup
	bodies := make([]string, 16)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, hit, release := pc.claim(ctx, "home")
			if !hit {
				builds.Add(1)
				time.Sleep(50 * time.Millisecond) // building
				body = []byte("page")
				pc.put("home", body, time.Minute)
				release()
			}
			bodies[i] = string(body)
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d requests built the page, want 1", n)
	}
	for i, b := range bodies {
		if b != "page" {
			t.Errorf("request %d got %q", i, b)
		}
	}

	// The builder fails: a waiter takes over.
	_, hit, release := pc.claim(ctx, "part")
	if hit {
		t.Fatal("hit on an empty key")
	}
	took := make(chan bool)
	go func() {
		_, hit, release := pc.claim(ctx, "part")
		release()
		took <- !hit
	}()
	time.Sleep(20 * time.Millisecond)
	release() // gave up without putting
	release() // twice is harmless
	select {
	case built := <-took:
		if !built {
			t.Error("the waiter got a page nobody built")
		}
	case <-time.After(buildWait / 2):
		t.Error("the waiter was not released when the builder gave up")
	}

	// A waiter whose request ends stops waiting.
	_, _, release = pc.claim(ctx, "slow")
	defer release()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, hit, _ := pc.claim(cctx, "slow"); hit {
		t.Error("a cancelled waiter got a hit")
	}
}
