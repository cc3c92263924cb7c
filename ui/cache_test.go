package ui

import (
	"fmt"
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
