/*
 * serve_dashboard.c - GET /dashboard: one self-contained HTML page
 * (inline CSS and JS, no external resource at all) that polls
 * GET /dashboard/data every 2 s and shows spend against budget, each
 * target's success rate, latency and breaker state, the cache hit rate
 * and the latest fallbacks with their reasons.
 *
 * The page holds no data, so it is served like /healthz; the data
 * follows the API's rule (client key, or loopback without keys).  With
 * keys, open /dashboard#key=KEY: the fragment never leaves the browser
 * and the script sends it as "Authorization: Bearer KEY".  Data goes
 * into the page through textContent only, never as markup.
 *
 * /dashboard/data is lr_metrics_json() plus what the gateway derives:
 *   fallbacks  the last ones it saw (serve_metrics.c), newest first
 *   breakers   per target, from breaker_transitions{"T:state"}: "open"
 *              when it was opened more often than half-opened, else
 *              "not open" (counts cannot tell closed from half-open)
 *   budget     spend of this process (cost_usd) and the daily/monthly
 *              limits of each budget_guard policy, from
 *              lr_router_describe_json()
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "serve.h"

static const char PAGE[] =
"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<title>llmroute dashboard</title>\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\n"
"table{border-collapse:collapse}td,th{padding:.25em .8em;"
"border-bottom:1px solid #ddd;text-align:left}\n"
"td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
".bar{width:24em;height:1em;background:#eee;border:1px solid #bbb}\n"
".fill{height:100%;background:#4a8}.warn{background:#d84}\n"
".open{color:#b00;font-weight:bold}#err{color:#b00}\n"
"</style></head><body>\n"
"<h1>llmroute dashboard</h1>\n"
"<p id=\"err\"></p><p>Updated <span id=\"updated\">never</span></p>\n"
"<h2>Spend</h2><p id=\"spend\">-</p>\n"
"<div class=\"bar\"><div class=\"fill\" id=\"spendbar\" "
"style=\"width:0\"></div></div>\n"
"<h2>Requests</h2><p id=\"requests\">-</p><p id=\"cache\">-</p>\n"
"<h2>Targets</h2><table id=\"targets\"><thead><tr><th>target</th>"
"<th>attempts</th><th>success rate</th><th>answered</th>"
"<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>tokens</th>"
"<th>cost USD</th><th>breaker</th></tr></thead><tbody></tbody></table>\n"
"<h2>Latest fallbacks</h2><table id=\"fallbacks\"><thead><tr>"
"<th>time</th><th>from</th><th>to</th><th>reason</th></tr></thead>"
"<tbody></tbody></table>\n"
"<script>\n"
"'use strict';\n"
"const $=id=>document.getElementById(id);\n"
"const key=(location.hash.match(/key=([^&]+)/)||[])[1];\n"
"const pct=x=>(100*x).toFixed(1)+'%';\n"
"const usd=x=>'$'+Number(x).toFixed(4);\n"
"function row(tb,cells){const tr=document.createElement('tr');\n"
" for(const c of cells){const td=document.createElement('td');\n"
"  td.textContent=c[0];if(c[1])td.className=c[1];tr.appendChild(td);}\n"
" tb.appendChild(tr);}\n"
"function fill(id,rows){const tb=$(id).tBodies[0];tb.replaceChildren();\n"
" rows.forEach(r=>row(tb,r));}\n"
"function counter(m,name,label){const c=(m.counters||{})[name];\n"
" if(typeof c==='number')return c;\n"
" if(c&&label!==undefined)return c[label]||0;\n"
" return c?Object.values(c).reduce((a,b)=>a+b,0):0;}\n"
"function render(d){const m=d.metrics,b=d.budget;\n"
" const lim=b.daily_usd||b.monthly_usd;\n"
" let s=usd(b.spend_usd)+' spent since the gateway started';\n"
" if(lim){const f=b.spend_usd/lim;\n"
"  s+='; '+(b.daily_usd?'daily':'monthly')+' budget '+usd(lim)+' ('\n"
"   +pct(f)+' of it)';\n"
"  $('spendbar').style.width=Math.min(100,100*f)+'%';\n"
"  $('spendbar').className='fill'+(f>=0.8?' warn':'');}\n"
" else s+=' (no budget configured)';\n"
" $('spend').textContent=s;\n"
" $('requests').textContent=m.requests+' requests, '+pct(m.success_rate)\n"
"  +' succeeded, p95 '+m.latency_ms.p95+' ms';\n"
" const h=counter(m,'cache_hits'),mi=counter(m,'cache_misses');\n"
" $('cache').textContent='Cache hit rate: '+(h+mi?pct(h/(h+mi))+' ('+h\n"
"  +' of '+(h+mi)+')':'no cache lookups');\n"
" const br={};for(const x of d.breakers)br[x.target]=x.state;\n"
" fill('targets',m.targets.map(t=>[[t.target],[t.attempts,'n'],\n"
"  [pct(t.attempt_success_rate),'n'],[t.requests_answered,'n'],\n"
"  [t.latency_ms.p50,'n'],[t.latency_ms.p95,'n'],[t.latency_ms.p99,'n'],\n"
"  [t.prompt_tokens+t.completion_tokens,'n'],[usd(t.cost_usd),'n'],\n"
"  [br[t.target]||'-',br[t.target]==='open'?'open':'']]));\n"
" fill('fallbacks',d.fallbacks.map(f=>[\n"
"  [new Date(f.at_ms).toLocaleTimeString()],[f.from],[f.to],[f.reason]]));\n"
" $('updated').textContent=new Date().toLocaleTimeString();\n"
" $('err').textContent='';}\n"
"async function poll(){try{\n"
"  const r=await fetch('/dashboard/data',{cache:'no-store',\n"
"   headers:key?{Authorization:'Bearer '+decodeURIComponent(key)}:{}});\n"
"  if(!r.ok)throw new Error('HTTP '+r.status);\n"
"  render(await r.json());}\n"
" catch(e){$('err').textContent='Cannot load data: '+e.message;}\n"
" setTimeout(poll,2000);}\n"
"poll();\n"
"</script></body></html>\n";

const char *serve_dashboard_html(void)
{
    return PAGE;
}

/* --- Data --------------------------------------------------------------- */

static void add_fallbacks(cJSON *root, struct serve_stats *st)
{
    struct serve_fallback f[SERVE_FALLBACKS];
    size_t n = serve_stats_fallbacks(st, f, SERVE_FALLBACKS);
    cJSON *arr = cJSON_AddArrayToObject(root, "fallbacks");
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            return;
        cJSON_AddNumberToObject(o, "at_ms", (double)f[i].at_ms);
        cJSON_AddStringToObject(o, "from", f[i].from);
        cJSON_AddStringToObject(o, "to", f[i].to);
        cJSON_AddStringToObject(o, "reason", f[i].reason);
    }
}

/* breaker_transitions {"T:open": n, "T:half_open": n, "T:closed": n}
   into [{"target","state","opened","half_opened","closed"}]. */
static void add_breakers(cJSON *root, const cJSON *metrics)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(metrics, "counters");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(cs,
                                                       "breaker_transitions");
    cJSON *out = cJSON_AddArrayToObject(root, "breakers");
    static const char *const keys[] = {"opened", "half_opened", "closed"};
    static const char *const words[] = {":open", ":half_open", ":closed"};
    const cJSON *c;
    cJSON_ArrayForEach(c, tr) {
        const char *colon = strrchr(c->string, ':');
        if (!out || !colon || !cJSON_IsNumber(c))
            continue;
        size_t tl = (size_t)(colon - c->string), k = 0;
        while (k < 3 && strcmp(colon, words[k]) != 0)
            k++;
        if (k == 3)
            continue;
        cJSON *o = NULL, *it;
        cJSON_ArrayForEach(it, out) {
            const char *t = cJSON_GetObjectItem(it, "target")->valuestring;
            if (strlen(t) == tl && !strncmp(t, c->string, tl))
                o = it;
        }
        if (!o) {
            char *t = strndup(c->string, tl);
            o = t ? cJSON_CreateObject() : NULL;
            if (!o || !cJSON_AddItemToArray(out, o)) {
                free(t);
                cJSON_Delete(o);
                return;
            }
            cJSON_AddStringToObject(o, "target", t);
            free(t);
            for (size_t j = 0; j < 3; j++)
                cJSON_AddNumberToObject(o, keys[j], 0);
        }
        cJSON_SetNumberValue(cJSON_GetObjectItem(o, keys[k]), c->valuedouble);
    }
    cJSON *o;
    cJSON_ArrayForEach(o, out) {
        double op = cJSON_GetObjectItem(o, "opened")->valuedouble;
        double half = cJSON_GetObjectItem(o, "half_opened")->valuedouble;
        cJSON_AddStringToObject(o, "state", op > half ? "open" : "not open");
    }
}

/* The smallest limit of key over every budget_guard policy, or 0. */
static double budget_limit(const cJSON *desc, const char *key)
{
    const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(desc, "pipeline");
    const cJSON *p;
    double best = 0;
    cJSON_ArrayForEach(p, pipe) {
        const cJSON *plugin = cJSON_GetObjectItemCaseSensitive(p, "plugin");
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(p, "config");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
        if (!cJSON_IsString(plugin) || strcmp(plugin->valuestring,
                                               "budget_guard") ||
            !cJSON_IsString(v))
            continue;
        double x = strtod(v->valuestring, NULL);
        if (x > 0 && (best == 0 || x < best))
            best = x;
    }
    return best;
}

static void add_budget(cJSON *root, const cJSON *metrics,
                       struct lr_router *r)
{
    cJSON *b = cJSON_AddObjectToObject(root, "budget");
    if (!b)
        return;
    const cJSON *spend = cJSON_GetObjectItemCaseSensitive(metrics,
                                                          "cost_usd");
    cJSON_AddNumberToObject(b, "spend_usd",
                            cJSON_IsNumber(spend) ? spend->valuedouble : 0);
    char *d = lr_router_describe_json(r);
    cJSON *desc = d ? cJSON_Parse(d) : NULL;
    lr_free(d);
    static const char *const keys[] = {"daily_usd", "monthly_usd"};
    for (size_t i = 0; i < 2; i++) {
        double lim = budget_limit(desc, keys[i]);
        if (lim > 0)
            cJSON_AddNumberToObject(b, keys[i], lim);
        else
            cJSON_AddNullToObject(b, keys[i]);
    }
    cJSON_Delete(desc);
}

char *serve_dashboard_json(struct serve_stats *st, struct lr_router *r)
{
    char *m = lr_metrics_json(r);
    cJSON *metrics = m ? cJSON_Parse(m) : NULL;
    lr_free(m);
    cJSON *root = metrics ? cJSON_CreateObject() : NULL;
    if (!root) {
        cJSON_Delete(metrics);
        return NULL;
    }
    cJSON_AddItemToObject(root, "metrics", metrics);
    add_fallbacks(root, st);
    add_breakers(root, metrics);
    add_budget(root, metrics, r);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
