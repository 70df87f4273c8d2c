// Package version holds the build's version, set with -ldflags at release.
package version

import "runtime/debug"

// Version is overridden with -ldflags "-X github.com/orb8/orb8/internal/version.Version=v1.2.3".
var Version = "dev"

// String is the version, with the VCS revision when the build recorded one.
func String() string {
	if Version != "dev" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return Version
}
