package schedule

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fleetbench/fleet/internal/shellquote"
)

var (
	cronFieldRE = regexp.MustCompile(`^[0-9A-Za-z*,/-]+$`)
	clockRE     = regexp.MustCompile(`^([0-9]{1,2}):([0-9]{2})(?::(00))?$`)
	// A systemd calendar word that cron cannot say: a date or a time.
	dateOrTimeRE = regexp.MustCompile(`[-:]`)
)

// cronKeywords are systemd's shorthands and their crontab equivalents.
var cronKeywords = map[string]string{
	"minutely": "* * * * *",
	"hourly":   "0 * * * *",
	"daily":    "0 0 * * *",
	"midnight": "0 0 * * *",
	"weekly":   "0 0 * * 1", // systemd's weeks start on Monday
	"monthly":  "0 0 1 * *",
	"yearly":   "0 0 1 1 *",
	"annually": "0 0 1 1 *",
}

var weekdays = map[string]int{"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}

// errCronForm says which calendar forms CronSchedule translates.
var errCronForm = errors.New("--cron translates only minutely, hourly, daily, weekly, monthly, yearly and [WEEKDAYS] [*-*-*] HH:MM[:00] (WEEKDAYS like Mon, Mon..Fri or Sat,Sun); give a 5-field cron expression instead, e.g. '30 1 * * 1-5'")

// CronSchedule turns a calendar expression into the five time fields of a
// crontab line. A five-field cron expression passes through; of systemd's
// calendar syntax it translates the shorthands and a weekday list with a
// time of day, and refuses the rest rather than guess.
func CronSchedule(on string) (string, error) {
	f := strings.Fields(on)
	if len(f) == 5 {
		for _, field := range f {
			if !cronFieldRE.MatchString(field) {
				return "", fmt.Errorf("cron expression %q: field %q holds a character cron does not take", on, field)
			}
		}
		return strings.Join(f, " "), nil
	}
	if len(f) == 1 {
		if c, ok := cronKeywords[strings.ToLower(f[0])]; ok {
			return c, nil
		}
	}
	dow := "*"
	if len(f) >= 2 && !dateOrTimeRE.MatchString(f[0]) {
		d, err := cronWeekdays(f[0])
		if err != nil {
			return "", fmt.Errorf("calendar %q: %w", on, err)
		}
		dow, f = d, f[1:]
	}
	if len(f) == 2 && f[0] == "*-*-*" {
		f = f[1:]
	}
	if len(f) != 1 {
		return "", fmt.Errorf("calendar %q: %w", on, errCronForm)
	}
	m := clockRE.FindStringSubmatch(f[0])
	if m == nil {
		return "", fmt.Errorf("calendar %q: %w", on, errCronForm)
	}
	hour, _ := strconv.Atoi(m[1])
	minute, _ := strconv.Atoi(m[2])
	if hour > 23 || minute > 59 {
		return "", fmt.Errorf("calendar %q: %s is not a time of day", on, f[0])
	}
	return fmt.Sprintf("%d %d * * %s", minute, hour, dow), nil
}

// cronWeekdays turns systemd's weekday list (Mon, Mon..Fri, Sat,Sun) into
// cron's (1, 1-5, 6,0). Sunday is 0 alone and 7 as a range's end, as cron
// counts it.
func cronWeekdays(s string) (string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "..")
		a, ok := weekdays[strings.ToLower(from)]
		if !ok {
			return "", fmt.Errorf("%q is not a weekday: %w", from, errCronForm)
		}
		if !isRange {
			out = append(out, strconv.Itoa(a%7))
			continue
		}
		b, ok := weekdays[strings.ToLower(to)]
		if !ok {
			return "", fmt.Errorf("%q is not a weekday: %w", to, errCronForm)
		}
		if b < a {
			return "", fmt.Errorf("weekday range %s runs backwards: write it as two, e.g. Sat..Sun,Mon", part)
		}
		out = append(out, fmt.Sprintf("%d-%d", a, b))
	}
	return strings.Join(out, ","), nil
}

// CronLog is where a cron-run schedule's output goes: cron has no
// journal, and mails output at best.
func CronLog(s Spec) string { return filepath.Join(s.Dir, "fleet-schedule-"+s.Name+".log") }

// CronLine is the crontab line of a schedule: the time fields, the
// command (sourcing s.EnvFile first when there is one, exporting what it
// sets) with its output appended to CronLog, and the marker as a trailing shell comment. cron
// passes its jobs no environment, so named variables need a file; and
// cron turns % into a newline even inside quotes, so no word may hold one.
func CronLine(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	when, err := CronSchedule(s.On)
	if err != nil {
		return "", err
	}
	if len(s.Env) > 0 && s.EnvFile == "" {
		return "", errors.New("cron passes no environment to its jobs: with --cron, --env needs --env-file FILE, a file of NAME=value lines that the line sources")
	}
	words := append(s.Command(), CronLog(s), s.EnvFile)
	for _, w := range words {
		if err := checkLine("crontab word", w); err != nil {
			return "", err
		}
		if strings.Contains(w, "%") {
			return "", fmt.Errorf("crontab word %q: holds %%, which cron turns into a newline; use the systemd timer", w)
		}
	}
	// The shell's own output goes to the log first, so that a missing
	// environment file is reported there too.
	cmd := "exec >>" + shellquote.Quote(CronLog(s)) + " 2>&1 && "
	if s.EnvFile != "" {
		cmd += "set -a && . " + shellquote.Quote(s.EnvFile) + " && set +a && "
	}
	cmd += "exec " + shellquote.Join(s.Command()...)
	return when + " " + cmd + " " + Marker(s.Name), nil
}
