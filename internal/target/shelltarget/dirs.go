package shelltarget

import (
	"path"
	"strings"

	"github.com/fleetbench/fleet/internal/shellquote"
)

// Who may write what on a machine: every directory fleet makes there (the
// work directory, a run's, a job's, an attempt's, the cache of shared
// files) is the connecting user's alone. Another user who could write one
// could plant a "fleet" binary that runs with the job's secrets, or a link
// that makes fetch copy a private file back. So each directory on the
// chain is made 0700, and one that exists already is used only when the
// connecting user owns it and neither group nor others may write it; a
// symbolic link is followed only when the user (or root) owns the link
// and the directory it points to passes the same test.

// dirFns define private_dir DIR, which makes DIR (mode 0700) or checks
// the one that is there, and explains on stderr why it refuses one.
// stat -c is GNU coreutils; stat -f is the BSD spelling (macOS).
const dirFns = `me=$(id -u)
finfo() { stat -L -c '%u %a %U %F' -- "$1" 2>/dev/null || stat -L -f '%u %Lp %Su %HT' -- "$1" 2>/dev/null; }
lowner() { stat -c '%u' -- "$1" 2>/dev/null || stat -f '%u' -- "$1" 2>/dev/null; }
refuse() {
  echo "fleet: $1 $2 on this machine $3, and fleet keeps its directories private to the connecting user (uid $me): $4" >&2
  return 1
}
private_dir() {
  if [ ! -e "$1" ] && [ ! -L "$1" ] && mkdir -m 700 -- "$1" 2>/dev/null; then return 0; fi
  if [ -L "$1" ]; then
    lo=$(lowner "$1")
    if [ "$lo" != "$me" ] && [ "$lo" != 0 ]; then
      refuse "$2" "$1" "is a symbolic link owned by uid $lo" "remove the link, or set the node's workdir to a directory only you can write"
      return 1
    fi
  fi
  info=$(finfo "$1")
  if [ -z "$info" ]; then
    echo "fleet: cannot create or read $2 $1 on this machine: check that its parent exists and is yours" >&2
    return 1
  fi
  # shellcheck disable=SC2086
  set -- "$1" "$2" $info
  case $6 in
    [Dd]irectory) ;;
    *) refuse "$2" "$1" "is not a directory" "remove it, or set the node's workdir elsewhere"; return 1 ;;
  esac
  if [ "$3" != "$me" ]; then
    refuse "$2" "$1" "is owned by $5 (uid $3), not by you" "remove it (as $5 or root), or set the node's workdir to a directory only you can write"
    return 1
  fi
  if [ $((0$4 & 022)) -ne 0 ]; then
    refuse "$2" "$1" "is writable by its group or others (mode $4)" "someone else may have put files in it: remove it (rm -rf), or chmod go-w it if you trust what it holds"
    return 1
  fi
}
`

// chain lists dir and the directories between base and dir, base first.
// dir must lie under base.
func chain(base, dir string) []string {
	out := []string{base}
	rel := strings.TrimPrefix(dir, base+"/")
	if dir == base || rel == dir {
		return out
	}
	cur := base
	for _, c := range strings.Split(rel, "/") {
		cur = path.Join(cur, c)
		out = append(out, cur)
	}
	return out
}

// prepareScript makes (or checks) the work directory chain down to an
// attempt's fresh directory and the cache directories in cacheDirs, all
// private to the connecting user. base's parents are made when missing
// (0700 as well) but not checked: they are the user's choice (a home, a
// scratch filesystem).
func prepareScript(base, attempt string, cacheDirs []string) string {
	var b strings.Builder
	b.WriteString(dirFns)
	b.WriteString("umask 077\n")
	q := shellquote.Quote
	b.WriteString("mkdir -p -- " + q(path.Dir(base)) + " || exit 1\n")
	check := func(what string, dirs []string) {
		for _, d := range dirs {
			b.WriteString("private_dir " + q(d) + " " + q(what) + " || exit 1\n")
		}
	}
	parents := chain(base, path.Dir(attempt))
	check("work directory", parents[:1])
	check("run/job directory", parents[1:])
	// A fresh directory: an earlier, interrupted try of the same attempt
	// must not leave a result that looks like ours. Its parent is checked
	// to be ours, so what is removed is ours.
	b.WriteString("rm -rf -- " + q(attempt) + " || exit 1\n")
	check("attempt directory", []string{attempt, attempt + "/.fleet"})
	seen := map[string]bool{}
	for _, cd := range cacheDirs {
		for _, d := range chain(base, cd)[1:] {
			if !seen[d] {
				seen[d] = true
				check("cache directory", []string{d})
			}
		}
	}
	return b.String()
}
