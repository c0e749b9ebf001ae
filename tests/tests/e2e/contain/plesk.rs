//! Pausing a mailbox's and a subscription's outgoing mail with Plesk's
//! Outgoing Mail Control, end to end: `rblfleet contain plan/apply/undo`
//! through the controller to a real agent whose `[actions] plesk` is a fake
//! `plesk` that records its argv and keeps each limit in a file, answering
//! `--info` the way Plesk's CLI prints (`Label:   value` lines). Undo must
//! put back the value read before the pause, not a default.

use std::fmt::Write as _;
use std::path::Path;

use super::common::{ADMIN, Noc, agent, refused_mail_log};
use super::script;

const HOST: &str = "web60.example";
const IP: &str = "203.0.113.60";
const MAILBOX: &str = "info@shop.example";
const SUBSCRIPTION: &str = "shop.example";

/// The fake `plesk` in `dir`: appends each call's argv to `dir/plesk.calls`
/// as `[arg][arg]…`; `bin mail --info ADDRESS` and `bin
/// subscription_settings --info DOMAIN` print the limit kept in
/// `dir/limits/{mail,sub}-NAME`; `--update NAME -outgoing-…-limit V` stores V.
/// The mailbox starts at 250 messages an hour, the subscription unlimited.
fn fake_plesk(dir: &Path) -> String {
    let limits = dir.join("limits");
    std::fs::create_dir_all(&limits).unwrap();
    std::fs::write(limits.join(format!("mail-{MAILBOX}")), "250\n").unwrap();
    std::fs::write(limits.join(format!("sub-{SUBSCRIPTION}")), "Unlimited\n").unwrap();
    let mut body = String::new();
    let _ = write!(
        body,
        "line=''\nfor a in \"$@\"; do line=\"$line[$a]\"; done\necho \"$line\" >> {calls:?}\n\
         limits={limits:?}\n\
         case \"$1 $2 $3 $5\" in\n\
         'bin mail --info ')\n\
           [ -f \"$limits/mail-$4\" ] || {{ echo \"Unable to find mail name $4\" >&2; exit 1; }}\n\
           printf 'Mailname:                       %s\\nDomain:                         %s\\n' \"${{4%@*}}\" \"${{4#*@}}\"\n\
           printf 'Mailbox:                        true\\nMbox quota:                     Default value (Unlimited)\\n'\n\
           printf 'Outgoing messages limit:        %s\\n' \"$(cat \"$limits/mail-$4\")\" ;;\n\
         'bin mail --update -outgoing-messages-mbox-limit')\n\
           echo \"$6\" > \"$limits/mail-$4\"; echo \"SUCCESS: Update of mail '$4' complete.\" ;;\n\
         'bin subscription_settings --info ')\n\
           printf 'Domain name:                    %s\\nHosting type:                   Physical hosting\\n' \"$4\"\n\
           printf 'Outgoing messages from a subscription limit:  %s\\n' \"$(cat \"$limits/sub-$4\")\" ;;\n\
         'bin subscription_settings --update -outgoing-messages-subscription-limit')\n\
           echo \"$6\" > \"$limits/sub-$4\"; echo \"SUCCESS: Update of subscription '$4' complete.\" ;;\n\
         *) echo \"plesk: unexpected command line: $*\" >&2; exit 2 ;;\n\
         esac\n",
        calls = dir.join("plesk.calls"),
    );
    let plesk = dir.join("plesk");
    script(&plesk, &body);
    plesk.display().to_string()
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("plesk.calls")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn limit(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join("limits").join(file)).unwrap().trim().to_string()
}

#[tokio::test]
async fn pause_and_restore_a_mailbox_and_a_subscription_through_plesk_and_back_into_the_case() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let noc = Noc::start(dir).await;
    let plesk = fake_plesk(dir);
    let log = dir.join("mail.log");
    refused_mail_log(&log, IP, MAILBOX, |qid| {
        format!(
            "Dec  4 10:00:00 web postfix/submission/smtpd[1]: {qid}: client=unknown[198.51.100.7], \
             sasl_method=LOGIN, sasl_username={MAILBOX}\n"
        )
    });
    let actions = format!(
        "[actions]\nenabled = true\ncontroller_key = {key:?}\nplesk = {plesk:?}\n\
         allow = [\"pause_mailbox\", \"restore_mailbox\", \"pause_subscription\", \"restore_subscription\"]\n",
        key = noc.public
    );
    let mut web = agent(&noc, HOST, IP, dir, &log, &actions).await;
    let case = noc.case_id(IP).await;
    let source = format!("mailbox:{MAILBOX}");
    let update = |what: &str, name: &str, option: &str, value: &str| {
        format!("[bin][{what}][--update][{name}][{option}][{value}]")
    };
    let info = |what: &str, name: &str| format!("[bin][{what}][--info][{name}]");

    // Injection attempts in the mailbox and the subscription: none is a
    // source or subscription this host reported, so the controller refuses
    // them before anything is signed or sent.
    let long = "a".repeat(1000);
    for (kind, bad) in [
        ("mailbox", format!("{MAILBOX}; rm -rf /")),
        ("mailbox", format!("$(reboot){MAILBOX}")),
        ("mailbox", format!("{MAILBOX}\n")),
        ("mailbox", format!("'{MAILBOX}'")),
        ("mailbox", format!("{long}@shop.example")),
        ("subscription", "shop.example;reboot".into()),
        ("subscription", "../shop.example".into()),
        ("subscription", "shop.example `id`".into()),
        ("subscription", format!("{long}.example")),
    ] {
        let (args, what) = match kind {
            "mailbox" => (vec![format!("mailbox:{bad}"), "pause_mailbox".into()], "never reported mailbox"),
            _ => (
                vec![source.clone(), "pause_subscription".into(), format!("--subscription={bad}")],
                "never reported subscription",
            ),
        };
        let mut argv = vec!["contain", "plan", HOST];
        argv.extend(args.iter().map(String::as_str));
        let err = noc.cli(&argv).await.unwrap_err();
        assert!(format!("{err:#}").contains(what), "{bad:?}: {err:#}");
    }
    assert!(noc.json(&["contain", "list"]).await.as_array().unwrap().is_empty(), "nothing was signed");

    // Mailbox: the dry run reads the limit (and changes nothing), the action
    // reads it again and sets 0, undo sets the 250 read before.
    let (ready, paused) = noc.plan_and_apply(&mut web, &[HOST, &source, "pause_mailbox"], "mailbox hijacked").await;
    let set_zero = format!("{plesk} bin mail --update {MAILBOX} -outgoing-messages-mbox-limit 0");
    assert_eq!(ready["result"]["commands"][0], set_zero, "{ready}");
    assert!(ready["result"]["undo"].as_str().unwrap().contains(&format!("mailbox {MAILBOX} back to 250")), "{ready}");
    assert_eq!(paused["state"], "done", "{paused}");
    assert_eq!(paused["result"]["exit_code"], 0, "{paused}");
    assert_eq!(paused["result"]["commands"][0], set_zero, "{paused}");
    let undo_data: serde_json::Value = serde_json::from_str(paused["result"]["undo"].as_str().unwrap()).unwrap();
    assert_eq!((&undo_data["previous"], &undo_data["known"]), (&"250".into(), &true.into()), "{undo_data}");
    assert_eq!(limit(dir, &format!("mail-{MAILBOX}")), "0");
    // The plan is spent: a second apply (which would read 0 as the value to
    // restore) is refused.
    let plan_id = ready["id"].as_str().unwrap();
    let again = noc.cli(&["contain", "apply", plan_id, "--reason", "again", "--wait", "0s"]).await.unwrap_err();
    assert!(format!("{again:#}").contains(&format!("{plan_id} is applied")), "{again:#}");
    let paused_id = paused["id"].as_str().unwrap().to_string();
    let restored = noc.step(&mut web, &["undo", &paused_id]).await;
    assert_eq!((&restored["state"], &restored["kind"]), (&"done".into(), &"restore_mailbox".into()), "{restored}");
    assert_eq!(limit(dir, &format!("mail-{MAILBOX}")), "250");
    let twice = noc.cli(&["contain", "undo", &paused_id, "--wait", "0s"]).await.unwrap_err();
    assert!(format!("{twice:#}").contains("already being undone"), "{twice:#}");

    // Subscription: the source's own by default; its previous value is "Unlimited".
    let (ready, paused) = noc.plan_and_apply(&mut web, &[HOST, &source, "pause_subscription"], "php mailer").await;
    assert_eq!(ready["subscription"], SUBSCRIPTION, "{ready}");
    assert!(ready["result"]["undo"].as_str().unwrap().contains("back to unlimited"), "{ready}");
    assert_eq!(paused["state"], "done", "{paused}");
    assert_eq!(limit(dir, &format!("sub-{SUBSCRIPTION}")), "0");
    let sub_id = paused["id"].as_str().unwrap().to_string();
    let restored_sub = noc.step(&mut web, &["undo", &sub_id]).await;
    assert_eq!(restored_sub["state"], "done", "{restored_sub}");
    assert_eq!(limit(dir, &format!("sub-{SUBSCRIPTION}")), "unlimited");

    // Exactly these command lines ran, in this order (the table's rows).
    let (mbox, sub) = ("-outgoing-messages-mbox-limit", "-outgoing-messages-subscription-limit");
    assert_eq!(
        calls(dir),
        [
            info("mail", MAILBOX),
            info("mail", MAILBOX),
            update("mail", MAILBOX, mbox, "0"),
            update("mail", MAILBOX, mbox, "250"),
            info("subscription_settings", SUBSCRIPTION),
            info("subscription_settings", SUBSCRIPTION),
            update("subscription_settings", SUBSCRIPTION, sub, "0"),
            update("subscription_settings", SUBSCRIPTION, sub, "unlimited"),
        ]
    );

    // The audit in `contain list`: who approved, why, what ran, how it exited.
    let list = noc.json(&["contain", "list"]).await;
    let record = |id: &str| list.as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap();
    let applied = record(&paused_id);
    assert_eq!((&applied["approved_by"], &applied["reason"]), (&ADMIN.into(), &"mailbox hijacked".into()), "{applied}");
    assert_eq!(applied["case_id"], case, "{applied}");
    let audit: Vec<&str> = applied["audit"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(audit[0].contains(&format!("{ADMIN}: approved pause_mailbox {paused_id}")), "{audit:?}");
    assert!(audit[1].contains(&format!("{HOST}: pause_mailbox {paused_id}")), "{audit:?}");
    assert!(audit[1].contains(&format!("done; ran: {set_zero}; exit code 0; output: SUCCESS")), "{audit:?}");
    let undo = record(restored_sub["id"].as_str().unwrap());
    assert_eq!((&undo["undo_of"], &undo["requested_by"]), (&sub_id.clone().into(), &ADMIN.into()), "{undo}");

    // The case has every step: who, what ran, the exit code.
    let notes = noc.case_notes(case).await;
    let by = |who: &str, parts: &[&str]| notes.iter().any(|(w, n)| w == who && parts.iter().all(|p| n.contains(p)));
    assert!(by(ADMIN, &["approved pause_mailbox", &paused_id, "mailbox hijacked"]), "{notes:#?}");
    assert!(by(HOST, &[&paused_id, "done; ran: ", &set_zero, "exit code 0"]), "{notes:#?}");
    assert!(by(ADMIN, &["approved restore_mailbox", &format!("undoing {paused_id}")]), "{notes:#?}");
    assert!(by(HOST, &["restore_mailbox", "-outgoing-messages-mbox-limit 250; exit code 0"]), "{notes:#?}");
    assert!(
        by(HOST, &[&sub_id, &format!("(source {MAILBOX}) subscription {SUBSCRIPTION}"), "exit code 0"]),
        "{notes:#?}"
    );
    assert!(by(HOST, &["restore_subscription", "-outgoing-messages-subscription-limit unlimited; exit code 0"]));
    // Per pause: plan, its answer, apply, its result, undo, its result.
    assert_eq!(notes.len(), 2 * 6, "{notes:#?}");
    noc.controller.stop().await;
}
