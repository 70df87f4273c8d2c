package cuda

import (
	"io"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// libraryPrefixes are what every hooked library's file name starts with:
// libcu (libcudart, libcuda, libcublas...), libamdhip64, libnrt.
var libraryPrefixes = []string{"/libcu", "/libamdhip64", "/libnrt"}

// mappedLibraries lists the distinct hooked runtime libraries in a maps file.
func mappedLibraries(r io.Reader) ([]uprobe.Mapping, error) {
	return uprobe.MappedFiles(r, libraryPrefixes, func(path string) bool {
		_, hooked := libraryOf(path)
		return hooked
	})
}
