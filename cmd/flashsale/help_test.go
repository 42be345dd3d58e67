package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagHelp_ValueNames: pflag shows backquoted text in a usage string as
// the flag's value name, so a backquoted command in a help line came out as
// "--tokens flashsale token --users N". A value name must be one word.
func TestFlagHelp_ValueNames(t *testing.T) {
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			checked++
			name, usage := pflag.UnquoteUsage(f)
			if strings.ContainsAny(name, " \t") || strings.Contains(usage, "`") {
				t.Errorf("%s --%s: value name %q, usage %q; want one word and no stray backquote", c.CommandPath(), f.Name, name, usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.InheritedFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd)
	if checked < 50 {
		t.Errorf("checked %d flags, want every command's (more than 50): are the commands registered?", checked)
	}
}
