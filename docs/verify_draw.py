#!/usr/bin/env python3
"""Re-runs a renke-draw-v2 draw (SPEC.md), Python 3.6+ standard library only. Usage: verify_draw.py
CERT.json LINES.csv [GROUP=ROSTER.csv ...]; rosters as uploaded also check each line's hash, stratum
and same_phone. Prints "identical", or the first difference (and exits with status 1)."""
import codecs, csv, hashlib, io, json, re, sys
sha, differ = (lambda t: hashlib.sha256(t.encode('utf-8')).hexdigest()), (lambda w: sys.exit('different: ' + w))
codecs.register_error('cp936', lambda e: ('€' if e.object[e.start] == 0x80 else '\ufffd', e.start + 1))
def read_csv(path):  # UTF-8 (with or without BOM), else GBK as Excel saves it
    raw = open(path, 'rb').read(); raw = raw[3:] if raw[:3] == codecs.BOM_UTF8 else raw
    try: text = raw.decode('utf-8')
    except UnicodeDecodeError: text = raw.decode('gb18030', errors='cp936')
    return list(csv.reader(io.StringIO(text, newline='')))
cert, rows = json.load(open(sys.argv[1], encoding='utf-8')), read_csv(sys.argv[2])
lines, seed, pct, HEX = [dict(zip(rows[0], r)) for r in rows[1:] if r], cert['seed'], cert['reserve_percent'], '[0-9a-f]{64}'
GROUPS, AREAS = ['parent', 'student', 'teacher', 'principal', 'npc_deputy', 'cppcc_member', 'public'], [a['name'] for a in cert['areas']]
if cert['algorithm'] != 'renke-draw-v2' or pct != 20 or cert['bands'] != {'parent': ['1-3', '4-6', '7-9'], 'student': ['3-4', '5-6', '7-9']}:
    differ('the algorithm, its reserve percent or its bands are not those of renke-draw-v2')
if len(set(rows[0])) != len(rows[0]) or len(lines) != cert['frame_size']: differ('lines.csv repeats a column or does not hold frame_size lines')
keys = [(GROUPS.index(s['group']), AREAS.index(s['area']), s['band'] or '') for s in cert['strata']]
if keys != sorted(set(keys)): differ("the certificate's strata are not in the plan's order")
if sha(''.join(h + '\n' for h in sorted(l['line_hash'] for l in lines))) != cert['frame_digest']: differ('frame digest differs')
strata, taken, order = {}, set(), {(s['group'], s['area'], s['band'] or ''): s for s in cert['strata']}  # taken: phones taken (same_phone, else own hash)
for n, l in enumerate(lines, 2):
    if l['group'] not in GROUPS or not re.fullmatch(HEX, l['line_hash']) or not re.fullmatch(HEX + '|', l['same_phone']) \
            or sha(seed + '\n' + l['line_hash']) != l['rank_key']: differ(f'line {n}: unknown group, malformed hash or rank_key not of the seed')
    strata.setdefault((l['group'], l['area'], l['band']), []).append((l['rank_key'], n, l))
for key in list(order) + [k for k in strata if k not in order]:
    quota, got = order.get(key, {'quota': 0})['quota'], 0
    for rank, (_, n, l) in enumerate(sorted(strata.get(key, [])), 1):
        outcome = '未抽中'
        if got < quota + -(-quota * pct // 100):
            phone = l['same_phone'] or l['line_hash']
            if phone in taken: outcome = '重复跳过'
            else: taken.add(phone); outcome = '抽中' if got < quota else '备选'; got += 1
        if (l['outcome'], l['rank']) != (outcome, str(rank)):
            differ(f"line {n}: {l['group']} {l['external_id']} is {l['outcome']} (rank {l['rank']}) "
                   f"in the file but {outcome} (rank {rank}) in the re-run")
    if key in order and (min(got, quota), max(got - quota, 0)) != (order[key]['drawn'], order[key]['reserves']):
        differ(f'{key}: drawn and reserves are not those the certificate states')
NAMES = {h: c for c, hs in dict(id='id 编号 序号编号', area='area 乡镇 街道 乡镇街道 乡镇（街道） 乡镇(街道)', school='school 学校',
         grade='grade 年级', phone='phone 电话 手机 手机号 手机号码 电话号码 联系电话').items() for h in hs.split()}
GRADES, by_id, phones, given = dict(zip('一二三四五六七八九', '123456789'), 初一='7', 初二='8', 初三='9'), {(l['group'], l['external_id']): l for l in lines}, {}, set()
for group, path in (a.split('=', 1) for a in sys.argv[3:]):
    roster = read_csv(path); head = [NAMES.get(h.strip().lower()) for h in roster[0]]; given.add(group)
    people = [{h: v.strip() for h, v in zip(head, r) if h} for r in roster[1:] if any(v.strip() for v in r)]
    for p in people:
        g = re.sub('(年级)+$', '', p.get('grade', '')).strip(); g = str(int(GRADES.get(g, g))) if g else ''
        band = next((b for b in cert['bands'].get(group, []) if g and int(b.split('-')[0]) <= int(g) <= int(b.split('-')[1])), '')
        phone = re.sub('^86', '', re.sub('[^0-9]', '', p.get('phone', '')))
        l = by_id.get((group, p['id']))
        if l is None or (l['line_hash'], l['area'], l['band']) != (sha('\t'.join([group, p['area'], band, p.get('school', ''), g, p['id'], phone])), p['area'], band):
            differ(f"{group} {p['id']} of the roster: no line of lines.csv has its line hash and stratum")
        phones.setdefault(phone or (group, p['id']), []).append(l)  # no phone: shares with no one
    if len(people) != sum(l['group'] == group for l in lines): differ(f'{group}: lines.csv holds other people than the roster')
for key, ls in phones.items():  # all rosters given: same_phone exactly; some: consistent
    want, got = min(l['line_hash'] for l in ls) if len(ls) > 1 else '', {l['same_phone'] for l in ls}
    if ({l['group'] for l in lines} <= given or isinstance(key, tuple)) and got != {want} or len(ls) > 1 and (len(got) > 1 or '' in got):
        differ(f"{ls[0]['group']} {ls[0]['external_id']}: same_phone does not match the rosters' phones")
print('identical')
