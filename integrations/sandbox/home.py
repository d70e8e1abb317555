"""The sandbox's home page (GET /): its providers, what each received and holds, and where the
JSON is. Stdlib only, like the rest of the sandbox; every value shown is escaped."""

import json
from html import escape

LATEST = 10  # requests and records shown per provider; the JSON has them all

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em;
       color: #222; }
h1 { font-weight: 400; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
code, td.json { font-family: ui-monospace, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
td, th { text-align: left; vertical-align: top; padding: 3px 8px; border-bottom: 1px solid #eee;
         overflow-wrap: anywhere; }
th.narrow { width: 7em; } .quiet { color: #666; }
"""


def home_page(server) -> str:
    """The page, for a SandboxServer (its URL, its emulators and its state file)."""
    stored = (
        f"Records are kept in <code>{escape(str(server.state_path))}</code> across restarts."
        if server.state_path
        else "Records live in memory only: a restart starts empty."
    )
    sections = [provider_section(server.url, emulator) for emulator in server.emulators.values()]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Provider sandbox</title>
<link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<h1>Provider sandbox</h1>
<p>A local stand-in for the providers' APIs. Each provider below is served under its own base
URL, the one its connection uses. {stored}</p>
{"".join(sections)}
<h2>Knobs</h2>
<p>Under <code>/__sandbox__/&lt;provider&gt;/</code>: <code>POST faults</code> (a JSON object of
knobs, e.g. <code>{{"fail_next": 3}}</code>), <code>POST reset</code> (forget every record,
request and fault), <code>GET contacts</code>, <code>GET requests</code>.</p>
</body></html>
"""


def provider_section(url: str, emulator) -> str:
    name = emulator.name
    control = f"/__sandbox__/{name}"
    with emulator.lock:
        requests = list(emulator.requests)
        records = list(emulator.contacts.values())
        leads = len(getattr(emulator, "leads", {}) or {})
    plural = "" if len(requests) == 1 else "s"
    held = f"{len(records)} contact{'' if len(records) == 1 else 's'}"
    if hasattr(emulator, "leads"):
        held += f" in {leads} lead{'' if leads == 1 else 's'}"
    received = "".join(
        f"<tr><td>{escape(r['method'])}</td><td><code>{escape(r['path'])}</code></td>"
        f"<td class='json'>{escape(short_json(r.get('body')))}</td></tr>"
        for r in reversed(requests[-LATEST:])
    )
    holds = "".join(
        f"<tr><td><code>{escape(str(r.get('id', '')))}</code></td>"
        f"<td class='json'>{escape(short_json(r))}</td></tr>"
        for r in records[-LATEST:]
    )
    return f"""
<section id="provider-{escape(name)}">
<h2>{escape(emulator.label or name)}</h2>
<p>Base URL <code>{escape(url + "/" + name + emulator.root)}</code>.
Received <strong data-count="requests">{len(requests)}</strong> request{plural};
holds <strong data-count="contacts">{escape(held)}</strong>.
JSON: <a href="{control}/requests">requests</a>, <a href="{control}/contacts">contacts</a>.</p>
<h3>Latest requests</h3>
<table><thead><tr><th class="narrow">Method</th><th>Path</th><th>Body</th></tr></thead>
<tbody>{received or '<tr><td colspan="3" class="quiet">None yet.</td></tr>'}</tbody></table>
<h3>Latest records</h3>
<table><thead><tr><th>Id</th><th>Record</th></tr></thead>
<tbody>{holds or '<tr><td colspan="2" class="quiet">None yet.</td></tr>'}</tbody></table>
</section>"""


def short_json(value, limit: int = 240) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
