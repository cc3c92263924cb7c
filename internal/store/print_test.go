package store

import (
	"context"
	"fmt"
	"testing"
)

func TestPrintDocs(t *testing.T) { eachStore(t, testPrintDocs) }

func testPrintDocs(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	if err := s.PutPrintShape(ctx, "aa", 1, `{"version":1}`); err != nil {
		t.Fatal(err)
	}
	// A newer version of the analysis replaces the old one.
	if err := s.PutPrintShape(ctx, "aa", 2, `{"version":2}`); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPrintShape(ctx, "bb", 2, `{"version":2,"b":1}`); err != nil {
		t.Fatal(err)
	}
	got, err := s.PrintShapes(ctx, 2, []string{"aa", "bb", "cc"})
	if err != nil || len(got) != 2 || got["aa"] != `{"version":2}` || got["bb"] != `{"version":2,"b":1}` {
		t.Errorf("shapes v2: %v %v", got, err)
	}
	if got, err := s.PrintShapes(ctx, 1, []string{"aa"}); err != nil || len(got) != 0 {
		t.Errorf("shapes of an old version: %v %v", got, err)
	}
	// Estimates are kept per profile.
	if err := s.PutPrintEstimate(ctx, "aa", "p1", `{"seconds":60}`); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPrintEstimate(ctx, "aa", "p2", `{"seconds":90}`); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPrintEstimate(ctx, "aa", "p1", `{"seconds":61}`); err != nil {
		t.Fatal(err)
	}
	e1, err := s.PrintEstimates(ctx, "p1", []string{"aa", "bb"})
	if err != nil || len(e1) != 1 || e1["aa"] != `{"seconds":61}` {
		t.Errorf("estimates p1: %v %v", e1, err)
	}
	// More keys than one query takes.
	keys := make([]string, 1200)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%04d", i)
		if i%300 == 0 {
			if err := s.PutPrintShape(ctx, keys[i], 2, "{}"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := s.PrintShapes(ctx, 2, keys); err != nil || len(got) != 4 {
		t.Errorf("shapes of 1200 keys: %d %v", len(got), err)
	}
	if got, err := s.PrintShapes(ctx, 2, nil); err != nil || len(got) != 0 {
		t.Errorf("no keys: %v %v", got, err)
	}
}
