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
 *   breakers   [{"policy", "target", "state"}] from the breaker_state
 *              gauge, one per circuit_breaker instance (policy: its
 *              section name) and target: "closed", "half-open" or "open"
 *              as this process last saw it (a target no breaker has
 *              looked at is not listed).  The page shows the state alone
 *              when one breaker watches a target, else "NAME: state"
 *              for each, sorted by name, coloured by the one letting
 *              least through.
 *   budget     spend_usd: this process's spend (cost_usd); policies:
 *              one {"policy", "daily_usd", "monthly_usd",
 *              "daily_spend_usd", "monthly_spend_usd"} per budget_guard
 *              instance with a global limit, by section name: the limits
 *              (budget_limit_usd gauge) and the period's settled spend as
 *              the store held it at this process's last request
 *              (budget_period_spend_usd gauge), so every process sharing
 *              a sqlite store is counted; null when not known.  The
 *              first policy's four values are also in budget itself (as
 *              before there could be several), null when there is none.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
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
".open{color:#b00;font-weight:bold}.half{color:#b60}#err{color:#b00}\n"
"</style></head><body>\n"
"<h1>llmroute dashboard</h1>\n"
"<p id=\"err\"></p><p>Updated <span id=\"updated\">never</span></p>\n"
"<h2>Spend</h2><div id=\"spend\"><p>-</p></div>\n"
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
"function spendText(b,p,who){const per=p.daily_usd?'daily':'monthly';\n"
" const lim=p[per+'_usd'],ps=p[per+'_spend_usd'];\n"
" const mine=usd(b.spend_usd)+' spent since the gateway started';\n"
" if(!lim)return [who+mine+' (no budget configured)',null];\n"
" const spent=ps==null?b.spend_usd:ps,f=spent/lim;\n"
" let s=ps==null?mine:usd(ps)+' spent this UTC '\n"
"  +(per==='daily'?'day':'month')+' (every process sharing the store)';\n"
" s+='; '+per+' budget '+usd(lim)+' ('+pct(f)+' of it)';\n"
" if(ps!=null)s+='; this gateway: '+usd(b.spend_usd);\n"
" return [who+s,f];}\n"
"function spendLines(b){const ps=b.policies||[];\n"
" if(!ps.length)return [spendText(b,{},'')];\n"
" return ps.map(p=>spendText(b,p,ps.length>1?p.policy+': ':''));}\n"
"function bar(f){const o=document.createElement('div'),\n"
"  i=document.createElement('div');o.className='bar';\n"
" i.className='fill'+(f!==null&&f>=0.8?' warn':'');\n"
" i.style.width=(f===null?0:Math.min(100,100*f))+'%';\n"
" o.appendChild(i);return o;}\n"
"const cls={open:'open','half-open':'half'};\n"
"const rank={'half-open':1,open:2};\n"
"function breakerCell(xs){if(!xs)return ['-'];\n"
" const w=xs.reduce((a,x)=>(rank[x.state]||0)>(rank[a.state]||0)?x:a);\n"
" const by=(a,b)=>a.policy<b.policy?-1:a.policy>b.policy?1:0;\n"
" return [xs.length>1?[...xs].sort(by).map(x=>x.policy+': '+x.state)\n"
"  .join(', '):w.state,cls[w.state]];}\n"
"function render(d){const m=d.metrics;\n"
" $('spend').replaceChildren(...spendLines(d.budget).flatMap(([s,f])=>{\n"
"  const p=document.createElement('p');p.textContent=s;\n"
"  return [p,bar(f)];}));\n"
" $('requests').textContent=m.requests+' requests, '+pct(m.success_rate)\n"
"  +' succeeded, p95 '+m.latency_ms.p95+' ms';\n"
" const h=counter(m,'cache_hits'),mi=counter(m,'cache_misses');\n"
" $('cache').textContent='Cache hit rate: '+(h+mi?pct(h/(h+mi))+' ('+h\n"
"  +' of '+(h+mi)+')':'no cache lookups');\n"
" const br={};\n"
" for(const x of d.breakers)(br[x.target]=br[x.target]||[]).push(x);\n"
" fill('targets',m.targets.map(t=>[[t.target],[t.attempts,'n'],\n"
"  [pct(t.attempt_success_rate),'n'],[t.requests_answered,'n'],\n"
"  [t.latency_ms.p50,'n'],[t.latency_ms.p95,'n'],[t.latency_ms.p99,'n'],\n"
"  [t.prompt_tokens+t.completion_tokens,'n'],[usd(t.cost_usd),'n'],\n"
"  breakerCell(br[t.target])]));\n"
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

/* One gauge object of lr_metrics_json() (NULL when never set). */
static const cJSON *gauge(const cJSON *metrics, const char *name)
{
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(metrics, "gauges");
    return cJSON_GetObjectItemCaseSensitive(gs, name);
}

/* breaker_state {"P/T": 0|1|2} into [{"policy": "P", "target": "T",
   "state": "..."}]: split at the first '/' (a target name may hold one);
   policy null for a label without one. */
static void add_breakers(cJSON *root, const cJSON *metrics)
{
    static const char *const words[] = {"closed", "half-open", "open"};
    cJSON *out = cJSON_AddArrayToObject(root, "breakers");
    const cJSON *g;
    cJSON_ArrayForEach(g, gauge(metrics, "breaker_state")) {
        if (!out || !cJSON_IsNumber(g) || !g->string)
            continue;
        double v = g->valuedouble;
        int k = v == 0 ? 0 : v == 1 ? 1 : v == 2 ? 2 : -1;
        const char *slash = strchr(g->string, '/');
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(out, o)) {
            cJSON_Delete(o);
            return;
        }
        if (slash) {
            char *p = strndup(g->string, (size_t)(slash - g->string));
            cJSON_AddItemToObject(o, "policy", p ? cJSON_CreateString(p)
                                                 : cJSON_CreateNull());
            free(p);
        }
        else
            cJSON_AddNullToObject(o, "policy");
        cJSON_AddStringToObject(o, "target", slash ? slash + 1 : g->string);
        cJSON_AddStringToObject(o, "state", k < 0 ? "unknown" : words[k]);
    }
}

static const char *const budget_keys[] = {
    "daily_usd", "monthly_usd", "daily_spend_usd", "monthly_spend_usd"};

/* The entry of policies (sorted by name) for policy, made with every
   value null when new; NULL when out of memory. */
static cJSON *budget_policy(cJSON *policies, const char *policy)
{
    int i = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, policies) {
        int c = strcmp(cJSON_GetObjectItem(p, "policy")->valuestring,
                       policy);
        if (c == 0)
            return p;
        if (c > 0)
            break;
        i++;
    }
    p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, "policy", policy) ||
        !cJSON_InsertItemInArray(policies, i, p)) {
        cJSON_Delete(p);
        return NULL;
    }
    for (size_t k = 0; k < 4; k++)
        cJSON_AddNullToObject(p, budget_keys[k]);
    return p;
}

/* Every value of gauge name, labelled "POLICY/PERIOD" by budget_guard,
   into its policy's entry as PERIOD<suffix> (daily and monthly only). */
static void budget_gauge(cJSON *policies, const cJSON *metrics,
                         const char *name, const char *suffix)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, gauge(metrics, name)) {
        const char *slash = g->string ? strrchr(g->string, '/') : NULL;
        char policy[256], key[64];
        if (!cJSON_IsNumber(g) || !slash ||
            (strcmp(slash + 1, "daily") && strcmp(slash + 1, "monthly")))
            continue;
        snprintf(policy, sizeof policy, "%.*s", (int)(slash - g->string),
                 g->string);
        snprintf(key, sizeof key, "%s%s", slash + 1, suffix);
        cJSON *p = budget_policy(policies, policy);
        if (p)
            cJSON_ReplaceItemInObjectCaseSensitive(
                p, key, cJSON_CreateNumber(g->valuedouble));
    }
}

static void add_budget(cJSON *root, const cJSON *metrics)
{
    cJSON *b = cJSON_AddObjectToObject(root, "budget");
    if (!b)
        return;
    const cJSON *spend = cJSON_GetObjectItemCaseSensitive(metrics,
                                                          "cost_usd");
    cJSON_AddNumberToObject(b, "spend_usd",
                            cJSON_IsNumber(spend) ? spend->valuedouble : 0);
    cJSON *ps = cJSON_CreateArray();
    if (!ps)
        return;
    budget_gauge(ps, metrics, "budget_limit_usd", "_usd");
    budget_gauge(ps, metrics, "budget_period_spend_usd", "_spend_usd");
    const cJSON *first = cJSON_GetArrayItem(ps, 0);
    for (size_t k = 0; k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItem(first, budget_keys[k]);
        if (cJSON_IsNumber(v))
            cJSON_AddNumberToObject(b, budget_keys[k], v->valuedouble);
        else
            cJSON_AddNullToObject(b, budget_keys[k]);
    }
    cJSON_AddItemToObject(b, "policies", ps);
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
    add_budget(root, metrics);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
