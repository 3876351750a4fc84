package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// cronJob is the server's description of a job.
type cronJob struct {
	Container       string            `json:"container"`
	Name            string            `json:"name"`
	Schedule        string            `json:"schedule"`
	TZ              string            `json:"tz"`
	State           string            `json:"state"`
	Meta            map[string]string `json:"meta"`
	NextScheduledAt *time.Time        `json:"next_scheduled_at,omitempty"`
	LastScheduledAt *time.Time        `json:"last_scheduled_at,omitempty"`
	Damaged         string            `json:"damaged,omitempty"`
}

// cronRun is one entry of a job's history.
type cronRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	Type        string    `json:"type"`
	StatusCode  int       `json:"statusCode,omitempty"`
	Body        string    `json:"body,omitempty"`
}

func cronPath(cl *client, name string) string {
	p := "/api/cron/" + url.PathEscape(cl.container)
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// newCronCmd: wasmtask cron create|ls|get|rm|history|pause|resume.
func newCronCmd(g *globals) *cobra.Command {
	var schedule, tz, jobToken string
	var meta []string
	var inactive bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Run a webtask on a schedule (create or replace the job)",
		Long: `Schedule the webtask NAME (it must exist), or with --job-token the code that
token runs. Standard 5-field cron expressions and @hourly-style descriptors,
in --tz (an IANA zone; default UTC).`,
		Example: `  wasmtask cron create hello --schedule "*/10 * * * *"
  wasmtask cron create report --schedule "5 9 * * 1-5" --tz Europe/Paris`,
		Args: exactArgs(1), ValidArgsFunction: completeWebtasks(g),
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			m, err := keyValues("meta", meta)
			if err != nil {
				return err
			}
			state := "active"
			if inactive {
				state = "inactive"
			}
			b, err := cl.sendJSON("PUT", cronPath(cl, args[0]), map[string]any{"schedule": schedule, "tz": tz, "token": jobToken, "state": state, "meta": m})
			if err != nil {
				return err
			}
			return printJob(g, b)
		},
	}
	create.Flags().StringVar(&schedule, "schedule", "", "cron expression, e.g. \"*/5 * * * *\" or @hourly (required)")
	create.Flags().StringVar(&tz, "tz", "", "IANA time zone of the schedule (default UTC)")
	create.Flags().StringVar(&jobToken, "job-token", "", "run the code this token fixes instead of the webtask NAME")
	create.Flags().StringArrayVar(&meta, "meta", nil, "metadata K=V (repeatable)")
	create.Flags().BoolVar(&inactive, "inactive", false, "create the job paused")
	_ = create.MarkFlagRequired("schedule")

	ls := &cobra.Command{
		Use: "ls", Short: "List the container's cron jobs", Args: noArgs,
		Example: "  wasmtask cron ls\n  wasmtask cron ls -c acme -o json",
		RunE: func(*cobra.Command, []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			b, err := cl.do("GET", cronPath(cl, ""), nil, "")
			if err != nil {
				return err
			}
			if g.json() {
				return writeRawJSON(g.stdout, b)
			}
			var jobs []cronJob
			if err := json.Unmarshal(b, &jobs); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			if len(jobs) == 0 {
				fmt.Fprintf(g.stdout, "no cron jobs in container %s\n", cl.container)
				return nil
			}
			t := newTable(g.stdout, "NAME", "SCHEDULE", "TZ", "STATE", "LAST", "NEXT")
			for _, j := range jobs {
				t.row(j.Name, j.Schedule, first(j.TZ, "UTC"), first(j.State, j.Damaged), fmtTime(j.LastScheduledAt), fmtTime(j.NextScheduledAt))
			}
			return t.flush()
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a cron job", Args: exactArgs(1),
		Example: "  wasmtask cron get hello\n  wasmtask cron get hello -o json",
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			b, err := cl.do("GET", cronPath(cl, args[0]), nil, "")
			if err != nil {
				return err
			}
			return printJob(g, b)
		},
	}
	rm := &cobra.Command{
		Use: "rm NAME", Short: "Delete a cron job and its history", Args: exactArgs(1),
		Example: "  wasmtask cron rm hello",
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			if _, err := cl.do("DELETE", cronPath(cl, args[0]), nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Removed cron job %s\n", args[0])
			return nil
		},
	}
	var limit int
	history := &cobra.Command{
		Use: "history NAME", Short: "The job's last runs, newest first", Args: exactArgs(1),
		Example: "  wasmtask cron history hello --limit 5",
		RunE: func(_ *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			q := ""
			if limit > 0 {
				q = "?limit=" + strconv.Itoa(limit)
			}
			b, err := cl.do("GET", cronPath(cl, args[0])+"/history"+q, nil, "")
			if err != nil {
				return err
			}
			if g.json() {
				return writeRawJSON(g.stdout, b)
			}
			var runs []cronRun
			if err := json.Unmarshal(b, &runs); err != nil {
				return fmt.Errorf("unexpected answer: %w", err)
			}
			if len(runs) == 0 {
				fmt.Fprintf(g.stdout, "cron job %s has not run yet\n", args[0])
				return nil
			}
			t := newTable(g.stdout, "SCHEDULED", "TYPE", "STATUS", "DURATION", "BODY")
			for _, r := range runs {
				status, dur := "-", "-"
				if r.StatusCode != 0 {
					status = strconv.Itoa(r.StatusCode)
				}
				if !r.StartedAt.IsZero() && !r.CompletedAt.IsZero() {
					dur = r.CompletedAt.Sub(r.StartedAt).Round(time.Microsecond).String()
				}
				body := strings.Join(strings.Fields(r.Body), " ")
				if len(body) > 60 {
					body = body[:60] + "…"
				}
				t.row(fmtTime(&r.ScheduledAt), r.Type, status, dur, body)
			}
			return t.flush()
		},
	}
	history.Flags().IntVar(&limit, "limit", 0, "at most this many runs")
	state := func(use, short, to string) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: exactArgs(1),
			Example: "  wasmtask cron " + use + " hello\n  wasmtask cron " + use + " report -o json",
			RunE: func(_ *cobra.Command, args []string) error {
				cl, err := g.client(true)
				if err != nil {
					return err
				}
				b, err := cl.sendJSON("PUT", cronPath(cl, args[0])+"/state", map[string]string{"state": to})
				if err != nil {
					return err
				}
				return printJob(g, b)
			},
		}
	}
	return group("cron", "Cron jobs: create, ls, get, rm, history, pause, resume", create, ls, get, rm, history,
		state("pause", "Pause a job (slots passed while paused do not run)", "inactive"),
		state("resume", "Resume a paused job", "active"))
}

func printJob(g *globals, b []byte) error {
	if g.json() {
		return writeRawJSON(g.stdout, b)
	}
	var j cronJob
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	fmt.Fprintf(g.stdout, "name:      %s\nschedule:  %s\ntz:        %s\nstate:     %s\nlast:      %s\nnext:      %s\n",
		j.Name, j.Schedule, first(j.TZ, "UTC"), j.State, fmtTime(j.LastScheduledAt), fmtTime(j.NextScheduledAt))
	return nil
}
