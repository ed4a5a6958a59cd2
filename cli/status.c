/*  status.c: see status.h. */
#include "status.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "meshdl.h"
#include "report.h"

void
mdl_status_json (const mdl_status_t *st, void *json)
{
    mdl_json_t *j = json;
    mdl_json_str (j, "agent", st->agent ? st->agent : "");
    mdl_json_str (j, "state", st->state ? st->state : "starting");
    mdl_json_int (j, "peers", (long long) st->peers);
    mdl_json_int (j, "min_peers", st->min_peers);
    mdl_json_int (j, "step", (long long) st->step);
    mdl_json_num (j, "epoch", st->epoch);
    mdl_json_int (j, "shard", st->shard);
    mdl_json_int (j, "shards", st->shards);
    mdl_json_num (j, "time", mdl_cli_wallclock ());
    mdl_json_num (j, "first_step_time", st->first_step_time);
    mdl_json_str (j, "message", st->message ? st->message : "");
    mdl_json_num (j, "worker_s", st->worker_s);
    mdl_json_num (j, "comm_s", st->comm_s);
}

int
mdl_status_write (const char *path, const mdl_status_t *st)
{
    char tmp[4200];
    if (snprintf (tmp, sizeof tmp, "%s.tmp", path) >= (int) sizeof tmp)
        return MDL_EIO;
    mdl_json_t j;
    mdl_json_begin (&j);
    mdl_status_json (st, &j);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return MDL_EIO;
    int rc = mdl_json_end (&j, f);
    if (fclose (f) != 0 || rc != 0 || rename (tmp, path) != 0) {
        unlink (tmp);
        return MDL_EIO;
    }
    return 0;
}

/* The text after "key": in a status line, or NULL. The file is ours (mdl_status_write),
   so a key search is enough; anything unexpected makes the status unreadable. */
static const char *
s_field (const char *text, const char *key)
{
    char pat[64];
    snprintf (pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr (text, pat);
    return p ? p + strlen (pat) : NULL;
}

static int
s_num (const char *text, const char *key, double *v)
{
    const char *p = s_field (text, key);
    if (!p)
        return -1;
    if (!strncmp (p, "null", 4)) {
        *v = NAN;
        return 0;
    }
    char *end;
    *v = strtod (p, &end);
    return end == p ? -1 : 0;
}

/* Copies the JSON string value of key into out (escapes kept as written). */
static int
s_str (const char *text, const char *key, char *out, size_t len)
{
    const char *p = s_field (text, key);
    if (!p || *p != '"' || len == 0)
        return -1;
    p++;
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        if (n + 1 < len)
            out[n++] = *p;
    }
    out[n] = '\0';
    return *p == '"' ? 0 : -1;
}

int
mdl_status_check (const char *path, double max_age, bool waiting_ok, char *line, size_t len)
{
    char text[4200];
    FILE *f = fopen (path, "r");
    if (!f) {
        snprintf (line, len, "unhealthy: no status file %s (the agent has not started yet, or wrote none)", path);
        return 1;
    }
    size_t n = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text[n] = '\0';
    char agent[32], state[32], msg[1024];
    double peers, minp, step, epoch, shard, shards, t;
    if (s_str (text, "agent", agent, sizeof agent) || s_str (text, "state", state, sizeof state)
        || s_str (text, "message", msg, sizeof msg) || s_num (text, "peers", &peers) || s_num (text, "min_peers", &minp)
        || s_num (text, "step", &step) || s_num (text, "epoch", &epoch) || s_num (text, "shard", &shard)
        || s_num (text, "shards", &shards) || s_num (text, "time", &t)) {
        snprintf (line, len, "unhealthy: status file %s does not parse", path);
        return 1;
    }
    double age = mdl_cli_wallclock () - t;
    const bool early = !strcmp (state, "waiting") || !strcmp (state, "starting");
    const bool lingering = !strcmp (state, "lingering"); /* finished, staying for peers (--linger) */
    if ((strcmp (state, "training") == 0 || lingering || (waiting_ok && early)) && !(age <= max_age)) {
        snprintf (line, len, "unhealthy: agent %s: its status is %.0f s old (the agent hangs or is gone)", agent, age);
        return 1;
    }
    /* A thread that stopped beating while the main thread still writes the status: the
       worker stuck in a step or a wait, the comm actor in a send (older files lack them). */
    double beat[2];
    const char *names[2] = { "worker", "comm" };
    if ((strcmp (state, "training") == 0 || lingering) && !s_num (text, "worker_s", &beat[0])
        && !s_num (text, "comm_s", &beat[1]))
        for (int k = 0; k < 2; k++)
            if (beat[k] > max_age) {
                snprintf (line, len, "unhealthy: agent %s: its %s thread has shown no sign of life for %.0f s (stuck)",
                          agent, names[k], beat[k]);
                return 1;
            }
    char where[64] = "";
    if (shards > 0)
        snprintf (where, sizeof where, ", shard %.0f/%.0f", shard, shards);
    if (strcmp (state, "training") == 0) {
        snprintf (line, len, "healthy: agent %s training, step %.0f, epoch %.2f, %.0f peers (min %.0f)%s", agent, step,
                  epoch, peers, minp, where);
        return 0;
    }
    if (lingering) {
        snprintf (line, len, "healthy: agent %s finished training at step %.0f, staying for its peers (--linger), %.0f peers%s",
                  agent, step, peers, where);
        return 0;
    }
    if (waiting_ok && early) {
        snprintf (line, len, "healthy (--waiting-ok): agent %s %s, %.0f of %.0f peers (--min-peers)%s", agent, state, peers,
                  minp, where);
        return 0;
    }
    if (strcmp (state, "done") == 0) {
        /* A run that ended as it should is not a sick agent: `meshdl status DIR` after a
           cluster finished says so and exits 0. (One stopped by a signal did not finish.) */
        snprintf (line, len, "finished: agent %s done at step %.0f, epoch %.2f%s", agent, step, epoch, where);
        return 0;
    }
    if (strcmp (state, "waiting") == 0)
        snprintf (line, len, "unhealthy: agent %s waiting for peers: %.0f of %.0f (--min-peers)%s%s", agent, peers, minp,
                  msg[0] ? ": " : "", msg);
    else
        snprintf (line, len, "unhealthy: agent %s %s%s%s", agent, state, msg[0] ? ": " : "", msg);
    return 1;
}

static const char *s_usage =
    "usage: meshdl status [--max-age SEC] [--waiting-ok] [PATH]\n\n"
    "Says whether an agent is healthy: it has its --min-peers and is taking training steps,\n"
    "and its status file is fresh (rewritten within --max-age seconds, default 30). PATH is\n"
    "the file of `meshdl agent --status FILE`, or a results directory (`--results DIR`):\n"
    "DIR/status.json, else every DIR/*/status.json (healthy when all are). Without PATH:\n"
    "$MESHDL_STATUS, as the agent's own --status (the Docker image's HEALTHCHECK).\n"
    "--waiting-ok: an agent starting or waiting for its peers (with a fresh file) is healthy\n"
    "too: for Docker Swarm, which lists a task under tasks.SERVICE only once it is healthy,\n"
    "while the agents find their peers through that name.\n"
    "Prints one line per agent. Exit codes: 0 every agent is healthy (training, status\n"
    "fresh) or finished its run (done); 1 one is not: starting, waiting for peers (unless\n"
    "--waiting-ok), stopped by a signal before the end, failed, its status is stale,\n"
    "missing or unreadable, or its worker or comm thread has shown no sign of life (a\n"
    "heartbeat each) for --max-age; 2 bad usage.";

int
mdl_cmd_status (int argc, char **argv)
{
    double max_age = 30;
    bool waiting_ok = false;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h")) {
            printf ("%s\n", s_usage);
            return 0;
        } else if (!strcmp (argv[i], "--max-age") && i + 1 < argc) {
            char *end;
            max_age = strtod (argv[++i], &end);
            if (*end || !(max_age > 0)) {
                fprintf (stderr, "meshdl status: --max-age '%s' is not a number of seconds > 0\n", argv[i]);
                return 2;
            }
        } else if (!strcmp (argv[i], "--waiting-ok"))
            waiting_ok = true;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf (stderr, "meshdl status: unexpected argument '%s' (see meshdl status --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path)
        path = getenv ("MESHDL_STATUS");
    if (!path || !path[0]) {
        fprintf (stderr, "meshdl status: say which agent: PATH (a status file or results directory) or MESHDL_STATUS\n");
        return 2;
    }
    char line[1400], file[4200];
    struct stat sb;
    if (stat (path, &sb) != 0 || !S_ISDIR (sb.st_mode)) {
        int rc = mdl_status_check (path, max_age, waiting_ok, line, sizeof line);
        printf ("%s\n", line);
        return rc;
    }
    snprintf (file, sizeof file, "%s/status.json", path);
    if (access (file, F_OK) == 0) {
        int rc = mdl_status_check (file, max_age, waiting_ok, line, sizeof line);
        printf ("%s\n", line);
        return rc;
    }
    DIR *d = opendir (path);
    if (!d) {
        printf ("unhealthy: cannot read directory %s\n", path);
        return 1;
    }
    int found = 0, bad = 0;
    for (struct dirent *e; (e = readdir (d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf (file, sizeof file, "%s/%s/status.json", path, e->d_name);
        if (access (file, F_OK) != 0)
            continue;
        found++;
        bad |= mdl_status_check (file, max_age, waiting_ok, line, sizeof line);
        printf ("%s\n", line);
    }
    closedir (d);
    if (!found)
        printf ("unhealthy: no status.json in %s or its subdirectories\n", path);
    return found && !bad ? 0 : 1;
}
