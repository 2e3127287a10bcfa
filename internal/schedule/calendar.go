package schedule

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// CheckCalendar asks systemd-analyze (at analyze) whether systemd takes
// expr as an OnCalendar expression. A timer with an expression systemd
// refuses would load, log a warning nobody reads and never fire, so the
// expression is checked before any unit is written.
func CheckCalendar(ctx context.Context, analyze, expr string) error {
	cmd := exec.CommandContext(ctx, analyze, "calendar", "--", expr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("calendar expression %q: systemd-analyze calendar: %v: %s", expr, err, strings.TrimSpace(out.String()))
	}
	return nil
}
