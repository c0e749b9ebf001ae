#!/usr/bin/env python3
"""Writes the demo's sample mail logs (web01.log, web02.log, web03.log).

Timestamps start at 2026-01-01T00:00:00Z and span two hours; `rblfleet demo`
shifts them so the logs end at the moment it runs. Deterministic (fixed seed),
documentation addresses only. Run from this directory to regenerate.
"""
import random
from datetime import datetime, timedelta, timezone

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
DOMAINS = ["gmail.com", "outlook.com", "hotmail.com", "web.de", "gmx.net", "orange.fr", "icloud.com",
           "example.org", "example.net", "mail.example", "corp.example", "isp.example"]
SENT = "250 2.0.0 OK 1767312000 a640c23a62f3a-ab67623e1basi1234567 - gsmtp"


class Log:
    def __init__(self, host, ip, seed):
        self.host, self.ip, self.rng = host, ip, random.Random(seed)
        self.t, self.qid, self.lines = BASE, 0x3F2A10, []

    def emit(self, prog, text):
        stamp = self.t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
        self.lines.append(f"{stamp} {self.host} {prog}[{self.rng.randint(1000, 30000)}]: {text}")

    def tick(self, secs):
        self.t += timedelta(seconds=secs)

    def new_qid(self):
        self.qid += self.rng.randint(1, 5000)
        return f"{self.qid:X}"

    def deliver(self, qid, to, fate):
        domain = to.split("@")[1]
        if fate == "sent":
            dsn, status, reply = "2.0.0", "sent", f"{SENT}"
        elif fate == "zen":
            dsn, status = "5.7.1", "bounced"
            reply = (f"host mx.{domain}[198.51.100.21] said: 554 5.7.1 Service unavailable; Client host [{self.ip}] "
                     f"blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{self.ip} (in reply to RCPT TO command)")
        elif fate == "microsoft":
            dsn, status = "5.7.1", "bounced"
            reply = (f"host outlook-com.olc.protection.outlook.com[198.51.100.40] said: 550 5.7.1 Unfortunately, messages "
                     f"from [{self.ip}] weren't sent. Please contact your Internet service provider since part of their "
                     f"network is on our block list (S3140). (in reply to MAIL FROM command)")
        elif fate == "tss04":
            dsn, status = "4.7.0", "deferred"
            reply = (f"host mta7.am0.yahoodns.net[198.51.100.50] said: 421 4.7.0 [TSS04] Messages from {self.ip} temporarily "
                     f"deferred due to unexpected volume or user complaints - 4.16.55.1; see "
                     f"https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command)")
        elif fate == "barracuda":
            dsn, status = "5.7.1", "bounced"
            reply = (f"host mx.{domain}[198.51.100.60] said: 554 Service unavailable; Client host [{self.ip}] blocked using "
                     f"b.barracudacentral.org; https://www.barracudanetworks.com/reputation/?pr=1&ip={self.ip} (in reply to RCPT TO command)")
        else:
            dsn, status = "5.1.1", "bounced"
            reply = f"host mx.{domain}[198.51.100.20] said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
        self.emit("postfix/smtp", f"{qid}: to=<{to}>, relay=mx.{domain}[198.51.100.30]:25, delay=1.2, "
                                  f"delays=0.1/0.01/0.6/0.5, dsn={dsn}, status={status} ({reply})")
        self.tick(1)

    def finish(self, qid, fates):
        if any(f not in ("sent", "tss04") for f in fates):
            self.emit("postfix/bounce", f"{qid}: sender non-delivery notification: {self.new_qid()}")
        self.emit("postfix/qmgr", f"{qid}: removed")

    def submission(self, user, client_ip, rcpts):
        qid = self.new_qid()
        self.emit("postfix/submission/smtpd", f"connect from unknown[{client_ip}]")
        self.emit("postfix/submission/smtpd", f"{qid}: client=unknown[{client_ip}], sasl_method=LOGIN, sasl_username={user}")
        self.emit("postfix/cleanup", f"{qid}: message-id=<{self.rng.getrandbits(48):x}@{user.split('@')[1]}>")
        self.emit("postfix/qmgr", f"{qid}: from=<{user}>, size={self.rng.randint(2000, 40000)}, nrcpt={len(rcpts)} (queue active)")
        self.emit("postfix/submission/smtpd", f"disconnect from unknown[{client_ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8")
        for to, fate in rcpts:
            self.deliver(qid, to, fate)
        self.finish(qid, [f for _, f in rcpts])

    def pickup(self, uid, sysuser, domain, script, rcpts):
        qid = self.new_qid()
        self.emit("postfix/pickup", f"{qid}: uid={uid} from=<{sysuser}>")
        self.emit("postfix/cleanup", f"{qid}: message-id=<{self.rng.getrandbits(48):x}@{self.host}>")
        if script:
            self.emit("postfix/cleanup", f"{qid}: warning: header X-PHP-Originating-Script: {uid}:{script} from local; "
                                         f"from=<{sysuser}@{domain}> to=<{rcpts[0][0]}>")
        self.emit("postfix/qmgr", f"{qid}: from=<{sysuser}@{domain}>, size=3100, nrcpt={len(rcpts)} (queue active)")
        for to, fate in rcpts:
            self.deliver(qid, to, fate)
        self.finish(qid, [f for _, f in rcpts])

    def rcpt(self, domains=DOMAINS):
        return f"user{self.rng.randint(1, 99999)}@{self.rng.choice(domains)}"

    def write(self, path):
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


def normal_traffic(log, users, minutes, per_minute=1):
    for _ in range(minutes):
        for _ in range(per_minute):
            user = log.rng.choice(users)
            rc = [(log.rcpt(), "sent" if log.rng.random() > 0.02 else "unknown") for _ in range(log.rng.randint(1, 2))]
            log.submission(user, f"192.0.2.{log.rng.randint(10, 20)}", rc)
        log.tick(50)


# web01: info@shop.example's password was stolen: spam from dozens of IPs, refused by Spamhaus and Microsoft.
w1 = Log("web01", "203.0.113.11", 1)
normal_traffic(w1, ["office@bakery.example", "hello@hotel.example"], 60)
for i in range(90):
    rc = []
    for _ in range(6):
        r = w1.rng.random()
        to = w1.rcpt(DOMAINS + [f"d{w1.rng.randint(1, 900)}.example"])
        fate = "zen" if r < 0.35 else "microsoft" if r < 0.45 else "unknown" if r < 0.6 else "sent"
        if fate == "microsoft":
            to = f"user{w1.rng.randint(1, 9999)}@outlook.com"
        rc.append((to, fate))
    w1.submission("info@shop.example", f"198.18.{w1.rng.randint(0, 255)}.{w1.rng.randint(1, 254)}", rc)
    w1.tick(20)
    if i % 10 == 0:
        normal_traffic(w1, ["office@bakery.example"], 1)
w1.write("web01.log")

# web02: a PHP mailer dropped into club.example's WordPress uploads, sending through pickup.
w2 = Log("web02", "203.0.113.12", 2)
normal_traffic(w2, ["contact@lawyer.example"], 60)
script = "/var/www/vhosts/club.example/httpdocs/wp-content/uploads/2026/01/cache.php"
for i in range(120):
    rc = []
    for _ in range(4):
        r = w2.rng.random()
        if r < 0.3:
            rc.append((f"user{w2.rng.randint(1, 99999)}@yahoo.com", "tss04"))
        else:
            rc.append((w2.rcpt(), "barracuda" if r < 0.5 else "unknown" if r < 0.65 else "sent"))
    w2.pickup(10012, "club_ftp", "club.example", script, rc)
    w2.tick(15)
    if i % 12 == 0:
        normal_traffic(w2, ["contact@lawyer.example"], 1)
w2.write("web02.log")

# web03: healthy, including a newsletter with a normal bounce rate.
w3 = Log("web03", "203.0.113.13", 3)
normal_traffic(w3, ["team@agency.example", "sales@agency.example"], 100, 2)
for i in range(40):
    rc = [(w3.rcpt(), "sent" if w3.rng.random() > 0.01 else "unknown") for _ in range(10)]
    w3.submission("newsletter@agency.example", "192.0.2.30", rc)
    w3.tick(10)
w3.write("web03.log")
