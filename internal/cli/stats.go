package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/go-units"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsEntry is one row of `stats`, with the fields docker's --format templates name.
type statsEntry struct {
	container                    string // as the user named it
	id, name                     string
	cpu, mem, memLimit, memPerc  float64
	netRx, netTx, blkRead, blkWr float64
	pids                         uint64
	noTrunc, valid               bool
}

func (s statsEntry) Container() string { return s.container }
func (s statsEntry) Name() string {
	if n := strings.TrimPrefix(s.name, "/"); n != "" {
		return n
	}
	return "--"
}
func (s statsEntry) ID() string {
	if s.noTrunc || len(s.id) < 12 {
		return s.id
	}
	return s.id[:12]
}
func (s statsEntry) CPUPerc() string {
	if !s.valid {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", s.cpu)
}
func (s statsEntry) MemUsage() string {
	if !s.valid {
		return "-- / --"
	}
	return units.BytesSize(s.mem) + " / " + units.BytesSize(s.memLimit)
}
func (s statsEntry) MemPerc() string {
	if !s.valid {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", s.memPerc)
}
func (s statsEntry) NetIO() string {
	if !s.valid {
		return "--"
	}
	return units.HumanSizeWithPrecision(s.netRx, 3) + " / " + units.HumanSizeWithPrecision(s.netTx, 3)
}
func (s statsEntry) BlockIO() string {
	if !s.valid {
		return "--"
	}
	return units.HumanSizeWithPrecision(s.blkRead, 3) + " / " + units.HumanSizeWithPrecision(s.blkWr, 3)
}
func (s statsEntry) PIDs() string {
	if !s.valid {
		return "--"
	}
	return fmt.Sprintf("%d", s.pids)
}

// entryFrom computes a row as docker's CLI does: CPU % from the change in the container's and the
// host's CPU time since the previous sample, scaled by the online CPUs; memory without the
// inactive page cache.
func entryFrom(ref string, v *ctypes.StatsResponse) statsEntry {
	e := statsEntry{container: ref, id: v.ID, name: v.Name, valid: true}
	cpuDelta := float64(v.CPUStats.CPUUsage.TotalUsage) - float64(v.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(v.CPUStats.SystemUsage) - float64(v.PreCPUStats.SystemUsage)
	online := float64(v.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(v.CPUStats.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		e.cpu = cpuDelta / sysDelta * online * 100
	}
	m := v.MemoryStats
	e.mem = float64(m.Usage)
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if x, ok := m.Stats[k]; ok && x < m.Usage {
			e.mem = float64(m.Usage - x)
			break
		}
	}
	e.memLimit = float64(m.Limit)
	if m.Limit != 0 {
		e.memPerc = e.mem / e.memLimit * 100
	}
	for _, n := range v.Networks {
		e.netRx += float64(n.RxBytes)
		e.netTx += float64(n.TxBytes)
	}
	for _, b := range v.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			e.blkRead += float64(b.Value)
		case "write":
			e.blkWr += float64(b.Value)
		}
	}
	e.pids = v.PidsStats.Current
	return e
}

// statsPrinter renders rows with a --format (table or not, or json).
type statsPrinter struct {
	tmpl  *template.Template
	table bool
	json  bool
}

func newStatsPrinter(format string) (*statsPrinter, error) {
	if format == "" {
		format = defaultStatsFormat
	}
	if format == "json" {
		return &statsPrinter{json: true}, nil
	}
	p := &statsPrinter{}
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		p.table, format = true, strings.TrimLeft(rest, " ")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, statusError{status: 1, err: fmt.Errorf("template parsing error: %w", err)}
	}
	p.tmpl = t
	return p, nil
}

var statsHeaders = statsHeader{}

// statsHeader answers the template with the column titles.
type statsHeader struct{}

func (statsHeader) Container() string { return "CONTAINER" }
func (statsHeader) Name() string      { return "NAME" }
func (statsHeader) ID() string        { return "CONTAINER ID" }
func (statsHeader) CPUPerc() string   { return "CPU %" }
func (statsHeader) MemUsage() string  { return "MEM USAGE / LIMIT" }
func (statsHeader) MemPerc() string   { return "MEM %" }
func (statsHeader) NetIO() string     { return "NET I/O" }
func (statsHeader) BlockIO() string   { return "BLOCK I/O" }
func (statsHeader) PIDs() string      { return "PIDS" }

func (p *statsPrinter) print(out io.Writer, rows []statsEntry) error {
	if p.json {
		for _, r := range rows {
			b, _ := json.Marshal(map[string]string{"BlockIO": r.BlockIO(), "CPUPerc": r.CPUPerc(), "Container": r.Container(),
				"ID": r.ID(), "MemPerc": r.MemPerc(), "MemUsage": r.MemUsage(), "Name": r.Name(), "NetIO": r.NetIO(), "PIDs": r.PIDs()})
			fmt.Fprintln(out, string(b))
		}
		return nil
	}
	w := out
	var tw *tabwriter.Writer
	if p.table {
		tw = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		w = tw
		if err := p.tmpl.Execute(w, statsHeaders); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	for _, r := range rows {
		if err := p.tmpl.Execute(w, r); err != nil {
			return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
		}
		fmt.Fprintln(w)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func statsCmd(e *env) *cobra.Command {
	var all, noStream, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			p, err := newStatsPrinter(format)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			refs := args
			if len(args) == 0 {
				if refs, err = listForStats(ctx, c, all); err != nil {
					return err
				}
			} else {
				for _, ref := range args {
					if _, err := c.ContainerInspect(ctx, ref, client.ContainerInspectOptions{}); err != nil {
						return statusError{status: 1, err: fmt.Errorf("%s", explain(err, e.host))}
					}
				}
			}
			if noStream {
				rows := make([]statsEntry, len(refs))
				var wg sync.WaitGroup
				for i, ref := range refs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rows[i] = statsEntry{container: ref, id: ref, name: ref}
						if v, err := statsOnce(ctx, c, ref); err == nil {
							rows[i] = entryFrom(ref, v)
						}
						rows[i].noTrunc = noTrunc
					}()
				}
				wg.Wait()
				return p.print(e.out, rows)
			}
			return statsLive(ctx, e, c, p, args, all, noTrunc)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template ('table', 'json' or a Go template)")
	return cmd
}

func listForStats(ctx context.Context, c *client.Client, all bool) ([]string, error) {
	res, err := c.ContainerList(ctx, client.ContainerListOptions{All: all})
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, s := range res.Items {
		refs = append(refs, s.ID)
	}
	return refs, nil
}

// statsOnce asks for one sample with its previous one (a second apart), so CPU % means something.
func statsOnce(ctx context.Context, c *client.Client, ref string) (*ctypes.StatsResponse, error) {
	res, err := c.ContainerStats(ctx, ref, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: true})
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var v ctypes.StatsResponse
	return &v, json.NewDecoder(res.Body).Decode(&v)
}

// statsLive redraws the table every second from one stream per container; without named
// containers, the set follows the containers that come and go.
func statsLive(ctx context.Context, e *env, c *client.Client, p *statsPrinter, named []string, all, noTrunc bool) error {
	var mu sync.Mutex
	latest := map[string]statsEntry{}
	watching := map[string]context.CancelFunc{}
	var order []string
	watch := func(ref string) {
		wctx, cancel := context.WithCancel(ctx)
		watching[ref] = cancel
		order = append(order, ref)
		latest[ref] = statsEntry{container: ref, id: ref, name: ref, noTrunc: noTrunc}
		go func() {
			res, err := c.ContainerStats(wctx, ref, client.ContainerStatsOptions{Stream: true})
			if err != nil {
				return
			}
			defer res.Body.Close()
			dec := json.NewDecoder(res.Body)
			for {
				var v ctypes.StatsResponse
				if err := dec.Decode(&v); err != nil {
					return
				}
				row := entryFrom(ref, &v)
				row.noTrunc = noTrunc
				mu.Lock()
				if _, ok := watching[ref]; ok {
					latest[ref] = row
				}
				mu.Unlock()
			}
		}()
	}
	refresh := func() {
		mu.Lock()
		defer mu.Unlock()
		if len(named) > 0 {
			for _, ref := range named {
				if _, ok := watching[ref]; !ok {
					watch(ref)
				}
			}
			return
		}
		refs, err := listForStats(ctx, c, all)
		if err != nil {
			return
		}
		present := map[string]bool{}
		for _, ref := range refs {
			present[ref] = true
			if _, ok := watching[ref]; !ok {
				watch(ref)
			}
		}
		kept := order[:0]
		for _, ref := range order {
			if present[ref] {
				kept = append(kept, ref)
				continue
			}
			watching[ref]()
			delete(watching, ref)
			delete(latest, ref)
		}
		order = kept
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		refresh()
		mu.Lock()
		rows := make([]statsEntry, 0, len(order))
		for _, ref := range order {
			rows = append(rows, latest[ref])
		}
		mu.Unlock()
		fmt.Fprint(e.out, "\033[2J\033[H") // clear the screen, cursor home: the table is redrawn
		if err := p.print(e.out, rows); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
