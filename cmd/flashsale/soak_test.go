package main

import (
	"io"
	"strings"
	"testing"
)

func TestWithSoakSection(t *testing.T) {
	section := soakBegin + "\n## Soak\nnew\n" + soakEnd + "\n"
	tests := []struct{ name, doc, want string }{
		{"empty file", "", section},
		{"appended after the bench", "# Benchmarks\n\nfigures\n", "# Benchmarks\n\nfigures\n\n" + section},
		{"replaced in place", "# B\n\n" + soakBegin + "\nold\n" + soakEnd + "\n\n## After\n", "# B\n\n" + section + "\n## After\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := withSoakSection(tc.doc, section); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// A rewritten bench keeps the section it read.
	kept := soakSectionOf([]byte("# old bench\n" + section + "tail"))
	if kept != section {
		t.Fatalf("soakSectionOf = %q, want %q", kept, section)
	}
	if got := withSoakSection("# new bench\n", kept); !strings.HasSuffix(got, section) || !strings.HasPrefix(got, "# new bench") {
		t.Errorf("bench rewrite = %q, want the new bench then the kept soak section", got)
	}
}

func TestSampleSelf(t *testing.T) {
	s, err := sampleSelf()
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSBytes < 1<<20 || s.Goroutines < 1 {
		t.Errorf("sample %+v, want a resident set of at least 1 MiB and a goroutine", s)
	}
}

func TestDev_RejectsANonPositiveGrace(t *testing.T) {
	for _, g := range []string{"0s", "-1s"} {
		cmd := newDevCmd()
		cmd.SetArgs([]string{"--grace", g, "--state", t.TempDir()})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--grace") {
			t.Errorf("dev --grace %s: got %v, want an error naming --grace", g, err)
		}
	}
}

func TestBenchKeepsTheReportsSection(t *testing.T) {
	section := reportsBegin + "\nreports figures\n" + reportsEnd + "\n"
	old := []byte("# old bench\n" + section + "<!-- soak:begin -->\nsoak\n<!-- soak:end -->\n")
	kept := sectionOf(old, reportsBegin, reportsEnd)
	if kept != section {
		t.Fatalf("sectionOf = %q, want %q", kept, section)
	}
	if got := withSection("# new bench\n", reportsBegin, reportsEnd, kept); !strings.HasSuffix(got, section) || !strings.HasPrefix(got, "# new bench") {
		t.Errorf("withSection = %q, want the new bench then the kept section", got)
	}
}
