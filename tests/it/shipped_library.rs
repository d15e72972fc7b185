//! The rule library shipped in `rules/`: it loads, it is big enough, its replies follow the
//! empathy structure in both languages, and it labels typical community comments right.
//!
//! The example comments are written for these tests (not taken from any labelled data set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};

use ascolto::comment::{Author, Comment, Place, Source};
use ascolto::rules::{Label, Lang, Library, Placeholders};
use ascolto::triage::{triage, TriageOptions, Verdict};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn values() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "support_url".to_owned(),
            "https://example.com/support".to_owned(),
        ),
        ("community_name".to_owned(), "the community".to_owned()),
        (
            "status_url".to_owned(),
            "https://status.example.com".to_owned(),
        ),
    ])
}

fn library() -> Library {
    match Library::load(&rules_dir(), &values()) {
        Ok(lib) => lib,
        Err(err) => panic!("the shipped library must load:\n{err}"),
    }
}

fn comment(id: &str, text: &str) -> Comment {
    Comment::new(
        id,
        Source::Replay,
        Place::channel("c-general", "general"),
        Author::member("u-member", "Robin"),
        text,
        Utc.timestamp_opt(1_700_000_000, 0).single().unwrap(),
    )
}

fn run(lib: &Library, text: &str) -> Verdict {
    triage(&comment(text, text), lib, &TriageOptions::default())
}

fn describe(v: &Verdict) -> String {
    let rules: Vec<String> = v
        .matches
        .iter()
        .map(|m| {
            format!(
                "{} {:?}",
                m.rule,
                m.evidence.iter().map(|e| &e.text).collect::<Vec<_>>()
            )
        })
        .collect();
    format!(
        "language {:?}, labels {:?}, rules {rules:?}, reply {:?}",
        v.language,
        v.labels.iter().map(|l| l.label).collect::<Vec<_>>(),
        v.reply
    )
}

/// The topic of the rule that drafts the reply.
fn reply_topic(v: &Verdict) -> Option<String> {
    v.main_match()
        .and_then(|m| m.topic.as_deref().map(str::to_owned))
}

#[test]
fn shipped_library_loads_with_at_least_forty_rules_in_both_languages() {
    let lib = library();
    assert!(lib.rules.len() >= 40, "only {} rules", lib.rules.len());
    for lang in Lang::ALL {
        let count = lib
            .rules
            .iter()
            .filter(|r| r.language == Some(lang))
            .count();
        assert!(count >= 20, "only {count} {lang} rules");
    }
    // Every rule lives in a language folder, or in rules/common/ for every language.
    for rule in &lib.rules {
        assert!(
            rule.language.is_some() || rule.file.components().any(|c| c.as_os_str() == "common"),
            "{} in {} reads no language",
            rule.id,
            rule.file.display()
        );
    }
}

#[test]
fn complaint_rules_have_a_topic_and_templates_with_two_wordings_per_language() {
    let lib = library();
    let complaint_rules: Vec<_> = lib
        .rules
        .iter()
        .filter(|r| r.labels.contains(&Label::Complaint))
        .collect();
    assert!(complaint_rules.len() >= 16);
    for rule in complaint_rules {
        assert!(rule.topic.is_some(), "{} has no topic", rule.id);
        assert!(!rule.templates.is_empty(), "{} has no template", rule.id);
        for id in &rule.templates {
            let template = lib.template(id).expect("templates are checked at load");
            for lang in Lang::ALL {
                assert!(
                    template.wordings(lang).len() >= 2,
                    "template {} (used by {}) has fewer than 2 {lang} wordings",
                    id.0,
                    rule.id
                );
            }
        }
    }
}

#[test]
fn every_wording_renders_without_leftover_braces_and_fits_a_chat_message() {
    let lib = library();
    let values = values();
    let p = Placeholders {
        author: "Robin",
        channel: "general",
        moderator: "Mia",
        matched: "still not here",
        values: &values,
    };
    for template in lib.templates.values() {
        for lang in Lang::ALL {
            for wording in template.wordings(lang) {
                let text = wording.render(&p);
                assert!(
                    !text.contains('{') && !text.contains('}'),
                    "{}: {text}",
                    template.id.0
                );
                assert!(
                    text.chars().count() <= 450,
                    "{} is long for chat: {text}",
                    template.id.0
                );
                assert!(!text.contains("@everyone") && !text.contains("@here"));
            }
        }
    }
}

#[test]
fn urgent_outranks_specific_complaints_which_outrank_generic_ones_and_questions() {
    let lib = library();
    let max_priority = |pred: &dyn Fn(&ascolto::rules::Rule) -> bool| {
        lib.rules
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.priority)
            .max()
            .unwrap()
    };
    let min_priority = |pred: &dyn Fn(&ascolto::rules::Rule) -> bool| {
        lib.rules
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.priority)
            .min()
            .unwrap()
    };
    let urgent = |r: &ascolto::rules::Rule| r.labels.contains(&Label::Urgent);
    let specific = |r: &ascolto::rules::Rule| {
        r.labels.contains(&Label::Complaint)
            && !r.labels.contains(&Label::Urgent)
            && r.topic.as_deref() != Some("general")
    };
    let generic = |r: &ascolto::rules::Rule| {
        r.labels.contains(&Label::Complaint) && r.topic.as_deref() == Some("general")
    };
    let question = |r: &ascolto::rules::Rule| *r.labels == [Label::Question];
    assert!(min_priority(&urgent) > max_priority(&specific));
    assert!(min_priority(&specific) > max_priority(&generic));
    assert!(min_priority(&generic) > max_priority(&question));
}

/// (text, expected reply language, expected complaint topic)
const COMPLAINTS: &[(&str, Lang, &str)] = &[
    (
        "My package still hasn't arrived and it's been two weeks",
        Lang::En,
        "delivery",
    ),
    (
        "I was charged twice for the same order, please sort this out",
        Lang::En,
        "billing",
    ),
    (
        "The app keeps crashing since the update, I can't do anything",
        Lang::En,
        "bug",
    ),
    (
        "I can't log in to my account since yesterday",
        Lang::En,
        "account",
    ),
    (
        "The headphones arrived broken, the left side makes no sound",
        Lang::En,
        "product",
    ),
    (
        "Il pacco risulta consegnato ma a me non è arrivato niente",
        Lang::It,
        "delivery",
    ),
    (
        "Mi avete addebitato due volte l'abbonamento di questo mese",
        Lang::It,
        "billing",
    ),
    (
        "L'app si blocca ogni volta che apro il profilo",
        Lang::It,
        "bug",
    ),
    (
        "Aspetto il rimborso da un mese e nessuno mi dice niente",
        Lang::It,
        "refund",
    ),
    (
        "Ho scritto tre volte all'assistenza e nessuno mi risponde",
        Lang::It,
        "service",
    ),
];

#[test]
fn complaints_get_the_right_topic_and_a_reply_in_their_language() {
    let lib = library();
    for (text, lang, topic) in COMPLAINTS {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
        assert!(
            !v.has(Label::Urgent),
            "not urgent: {text}\n{}",
            describe(&v)
        );
        assert_eq!(
            reply_topic(&v).as_deref(),
            Some(*topic),
            "{text}\n{}",
            describe(&v)
        );
        let reply = v
            .reply
            .as_ref()
            .unwrap_or_else(|| panic!("no reply for {text}"));
        assert_eq!(reply.lang, *lang, "{text}");
        assert!(
            reply.template.0.starts_with("complaint_"),
            "{text}: {}",
            reply.template.0
        );
    }
}

#[test]
fn questions_without_a_question_mark_are_flagged() {
    let lib = library();
    let questions: &[(&str, Lang)] = &[
        ("is there a way to export my playlists", Lang::En),
        ("does anyone know when the next meetup starts", Lang::En),
        ("how do I change my display name", Lang::En),
        ("can i use the same key on two computers", Lang::En),
        ("r u guys still doing the giveaway", Lang::En),
        (
            "qualcuno sa se c'è un modo per cambiare il nome utente",
            Lang::It,
        ),
        ("dove posso trovare le regole del gruppo", Lang::It),
        ("sapete se la diretta di stasera è confermata", Lang::It),
        ("si può pagare con bonifico", Lang::It),
        ("perché non vedo più il canale degli annunci", Lang::It),
        ("hey @sam what time does the stream start", Lang::En),
        ("Does the desktop app work on Linux?", Lang::En),
        ("Avete la versione in inglese?", Lang::It),
        // asking for help is a question even when it addresses "tu"
        ("tu mi potresti aiutare con l'ordine", Lang::It),
        ("Mi potete aiutare? Non trovo il link", Lang::It),
    ];
    for (text, lang) in questions {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Question),
            "not a question: {text}\n{}",
            describe(&v)
        );
        assert!(
            !v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
        assert!(v.needs_reply());
        let reply = v.reply.as_ref().expect("a question gets a draft");
        assert_eq!(reply.lang, *lang, "{text}");
        assert!(reply.template.0.starts_with("question_"), "{text}");
    }
}

#[test]
fn urgent_comments_win_the_reply() {
    let lib = library();
    let urgent: &[(&str, Lang, &str)] = &[
        (
            "If this isn't fixed by Friday I'm talking to my lawyer",
            Lang::En,
            "urgent_legal",
        ),
        (
            "The charger overheated and caught fire on my desk",
            Lang::En,
            "urgent_safety",
        ),
        (
            "I want to cancel my subscription, I'm done",
            Lang::En,
            "urgent_cancel",
        ),
        (
            "Everyone should know how this shop treats its customers",
            Lang::En,
            "urgent_public",
        ),
        (
            "Se non mi rimborsate entro domani mi rivolgo a un avvocato",
            Lang::It,
            "urgent_legal",
        ),
        (
            "Voglio disdire l'abbonamento, non ne posso più",
            Lang::It,
            "urgent_cancel",
        ),
        (
            "Lo dirò a tutti, state alla larga da questo negozio",
            Lang::It,
            "urgent_public",
        ),
    ];
    for (text, lang, template) in urgent {
        let v = run(&lib, text);
        assert!(v.has(Label::Urgent), "not urgent: {text}\n{}", describe(&v));
        let reply = v.reply.as_ref().expect("urgent comments get a draft");
        assert_eq!(
            reply.template.as_str(),
            *template,
            "{text}\n{}",
            describe(&v)
        );
        assert_eq!(reply.lang, *lang, "{text}");
    }
}

#[test]
fn closing_thanks_do_not_need_a_reply_but_follow_up_questions_do() {
    let lib = library();
    for text in [
        "thanks, that fixed it!",
        "Perfect, it works now. Thank you so much",
        "ok got it, cheers",
        "grazie mille, risolto!",
        "Ora funziona, grazie infinite",
    ] {
        let v = run(&lib, text);
        assert!(v.has(Label::Praise), "not praise: {text}\n{}", describe(&v));
        assert!(
            !v.needs_reply(),
            "should not need a reply: {text}\n{}",
            describe(&v)
        );
    }
    for text in [
        "thanks! how do I turn on notifications too?",
        "thanks, but it still doesn't work on my phone",
        "grazie, ma come faccio a cambiare la lingua?",
    ] {
        let v = run(&lib, text);
        assert!(
            v.needs_reply(),
            "a real follow-up: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn chit_chat_and_praise_are_not_flagged() {
    let lib = library();
    for text in [
        "haha nice one, see you all tonight",
        "morning all, coffee time!",
        "just finished the new season, loved the ending",
        "Great job on the new update, love the dark theme",
        "buona serata a tutti, ci vediamo domani",
        "che bella giornata oggi al mare",
        "Bravissimi, il nuovo negozio è stupendo",
        "what's up everyone",
        // gratitude, though it contains the sarcastic "so much for"
        "thanks so much for your help @anna!",
        "thank you so much for the quick fix, works now",
        // small talk to one person is answered by that person, not by a moderator
        "come stai? tutto bene?",
        "ti piace la nuova grafica?",
        // a question word in a sentence closed by "!" is an exclamation
        "Quanto mi piace la nuova sigla!",
        "Quanti ricordi con questo gruppo!",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.needs_reply(),
            "flagged chit-chat: {text}\n{}",
            describe(&v)
        );
        assert!(
            !v.has(Label::Complaint) && !v.has(Label::Negative),
            "{text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn a_laugh_glued_to_the_question_mark_still_asks() {
    let lib = library();
    for text in [
        "anybody up for a movie tonight??lol",
        "you guys still here?haha",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Question),
            "not a question: {text}\n{}",
            describe(&v)
        );
    }
    // the ? of a link query is not a question
    let v = run(
        &lib,
        "the photos are at https://example.com/gallery?album=lolcats",
    );
    assert!(!v.has(Label::Question), "{}", describe(&v));
}

#[test]
fn complaint_tone_catches_exasperation_and_failed_attempts() {
    let lib = library();
    for text in [
        "still can't get into the app after the update, what the hell??",
        "how is that fair, you doubled the price and removed half the features",
        "the app is not allowing me to save, tried three times",
        "so much for next-day shipping",
        "@shop your opening hours say 9 but the door was locked at 10, wasted trip",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn insults_and_dislike_alone_are_banter_but_count_beside_a_failure() {
    let lib = library();
    // said of a show or a friend, an insult is not a complaint to a company
    for text in [
        "@jess the ending of that show was stupid",
        "@dan that referee was garbage tonight",
        "@amy I hate mondays so much",
    ] {
        let v = run(&lib, text);
        assert!(!v.has(Label::Complaint), "{text}\n{}", describe(&v));
    }
    // beside a failure it still adds up to one
    for text in [
        "@shop your app is garbage, it crashed again",
        "this stupid router keeps dropping the connection, fix it",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn italian_negative_tone_catches_praise_with_a_but_and_reproach() {
    let lib = library();
    for text in [
        // praise that only prepares the criticism
        "Bravi, ma il sito è lentissimo da una settimana",
        "grazie ma così non si può andare avanti",
        "bello però il finale rovina tutto",
        // the praise names what it praises before the "ma" (same clause)
        "Ottima pasta ma la confezione si apre da sola",
        "Bella l'idea di fondo ma il risultato lascia a desiderare",
        // "not even" the least one expected
        "non c'è neanche un posto libero",
        // the conditional of reproach
        "sarebbe ora di sistemare le consegne",
        // exasperated punctuation with a negation
        "non avete ancora risposto?!",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Negative) || v.has(Label::Complaint),
            "not negative: {text}\n{}",
            describe(&v)
        );
    }
    // plain praise, and "ma" that does not follow praise, stay unflagged,
    // ... nor does an additive "ma anche", "ma soprattutto"
    for text in [
        "bravi, ottimo lavoro",
        "bello, ma dove lo avete girato",
        "Bella canzone ma anche il video merita",
        "neanche io lo sapevo, grazie",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Negative) && !v.has(Label::Complaint),
            "{text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn italian_disappointment_sarcasm_and_reproachful_questions_are_negative() {
    let lib = library();
    for text in [
        // disappointment said in full
        "mi aspettavo di più da un marchio così",
        "il nuovo album lascia a desiderare",
        // all talk and nothing done
        "tutto fumo e niente arrosto",
        // praise turned upside down, and a flat refusal
        "ma bravi, avete cambiato la ricetta senza dirlo",
        "no grazie, preferisco quella di prima",
        // questions that reproach rather than ask
        "ma vi sembra normale chiudere il negozio alle sei",
        "com'è possibile che il sito sia sempre giù",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Negative) || v.has(Label::Complaint),
            "not negative: {text}\n{}",
            describe(&v)
        );
    }
    // the same words said sincerely stay unflagged
    for text in [
        "grazie tante per l'aiuto, gentilissimi",
        "meno male che ci siete voi",
        "era ora, finalmente è uscito il nuovo disco",
        "fate due chiacchiere con noi stasera",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Negative) && !v.has(Label::Complaint),
            "{text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn italian_swearing_as_an_interjection_is_register_not_negativity() {
    let lib = library();
    for text in [
        "ha avuto un culo pazzesco alla lotteria",
        "minchia che partita ieri sera",
    ] {
        let v = run(&lib, text);
        assert!(!v.has(Label::Negative), "{text}\n{}", describe(&v));
    }
    // beside another sign, or as a refusal ("col cazzo"), it still counts
    for text in [
        "che cazzo di servizio, il tecnico non si è presentato",
        "col cazzo che vi pago ancora",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Negative),
            "not negative: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn stretched_letters_counted_waiting_and_wanting_back_are_read_as_grievances() {
    let lib = library();
    // Emphasis by stretching a letter is the word itself, in both languages.
    for (text, label) in [
        ("che schifooooo questo spot", Label::Negative),
        ("PESSIMOOOO servizio", Label::Negative),
        ("this is sooo unacceptableeee", Label::Complaint),
    ] {
        let v = run(&lib, text);
        assert!(v.has(label), "not {label:?}: {text}\n{}", describe(&v));
    }
    // Waiting counted in days or weeks is a grievance even in neutral words.
    for text in [
        "sono cinque giorni che aspetto il tecnico",
        "è una settimana che provo a chiamarvi",
        "la lavatrice è ferma da tre settimane",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Negative) || v.has(Label::Complaint),
            "not negative: {text}\n{}",
            describe(&v)
        );
    }
    // Wanting back what was taken away ("ri-" + volere, dare) is a grievance too.
    for text in [
        "rivogliamo la vecchia ricetta",
        "ridateci il negozio sotto casa",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Negative),
            "not negative: {text}\n{}",
            describe(&v)
        );
    }
    // A plain duration without waiting is not.
    for text in [
        "ci vediamo tra cinque giorni",
        "la festa dura tre settimane",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Negative) && !v.has(Label::Complaint),
            "{text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn questions_and_anticipation_with_complaint_words_are_not_complaints() {
    let lib = library();
    for text in [
        // "still" asking whether something goes on, not that it failed
        "hey, is the event still on tonight?",
        "is the shop still open on sundays?",
        // asking how refunds work: a question with its own reply
        "how do I get a refund for a ticket I bought twice by mistake?",
        // looking forward to something
        "so waiting for the new season",
        // opening hours are a timetable, not hours of waiting
        "@shop what are your opening hours?",
        "@bank what are your business hours on saturday?",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Complaint),
            "flagged as a complaint: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn hedges_are_not_grievances_but_leave_a_failure_beside_them_a_complaint() {
    let lib = library();
    // the negation inside "don't know", "not sure", "no idea" says the writer is unsure
    for text in [
        "@mia I don't know if it works on a tablet?",
        "@kim no idea, I'm not the one to ask",
        "@jo not sure that's any help?",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Complaint),
            "flagged as a complaint: {text}\n{}",
            describe(&v)
        );
    }
    // a hedge beside a failure does not hide it
    for text in [
        "@shop not sure what happened but my order still hasn't arrived",
        "@shop I don't know who to ask, my card was charged twice",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn a_negation_turns_feelings_around_but_not_the_remedy_the_writer_was_owed() {
    let lib = library();
    // "didn't fix it", "nobody will explain", "do not respond": the missing remedy is the
    // breach, so the negation must not make it count as praise
    for text in [
        "@telecom the engineer didn't fix it, third visit",
        "@council the road is flooded and nobody will explain",
        "@landlord the boiler is not repaired and you do not respond",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
    }
    // a negated laugh is still banter
    let text = "@sam you wouldn't dare lol";
    let v = run(&lib, text);
    assert!(
        !v.has(Label::Complaint),
        "flagged as a complaint: {text}\n{}",
        describe(&v)
    );
}

#[test]
fn a_third_persons_story_is_not_a_complaint_unless_it_names_a_failure() {
    let lib = library();
    // what a friend, a player or a celebrity did is seldom the writer's own breach
    for text in [
        "@amy why did she even go on that show",
        "@dan he never learns",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Complaint),
            "flagged as a complaint: {text}\n{}",
            describe(&v)
        );
    }
    // staff named by a pronoun beside a failure still make a complaint
    for text in [
        "@shop your driver was rude, he threw my parcel over the fence",
        "@bank he hung up on me twice",
        "@cafe she charged me twice and would not refund it",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Complaint),
            "not a complaint: {text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn the_draft_is_written_in_the_language_of_the_comment() {
    let lib = library();
    let en = run(&lib, "where is my order? it still hasn't arrived");
    let it = run(&lib, "dov'è il mio ordine? non è ancora arrivato");
    let (en_reply, it_reply) = (en.reply.clone().unwrap(), it.reply.clone().unwrap());
    assert_eq!(en_reply.lang, Lang::En);
    assert_eq!(it_reply.lang, Lang::It);
    assert_eq!(en_reply.template, it_reply.template);
    let values = values();
    let p = Placeholders {
        author: "Robin",
        channel: "general",
        moderator: "Mia",
        matched: "x",
        values: &values,
    };
    let template = lib.template(&it_reply.template).unwrap();
    let italian = template.wordings(Lang::It)[0].render(&p);
    let english = template.wordings(Lang::En)[0].render(&p);
    assert!(
        italian.contains("ci dispiace") || italian.contains("Ci dispiace"),
        "{italian}"
    );
    assert!(english.contains("sorry"), "{english}");
}

#[test]
fn a_negation_does_not_reach_past_the_end_of_its_sentence() {
    let lib = library();
    let tone = |v: &Verdict| {
        v.matches
            .iter()
            .any(|m| m.rule.to_string() == "en.complaint.tone")
    };
    // "nothing" and "never" close their own sentence: the verdict after them stands
    for text in [
        "waited a week for nothing, so frustrating",
        "Paid twice and got nothing. Useless",
        "Never again!! Awful support",
    ] {
        let v = run(&lib, text);
        assert!(tone(&v), "tone not read: {text}\n{}", describe(&v));
    }
    for text in [
        "Mai più. Pessimo servizio",
        "Nessuno risponde, vergognoso",
        "Sempre niente.\nChe schifo",
    ] {
        let v = run(&lib, text);
        assert!(
            v.has(Label::Negative),
            "not negative: {text}\n{}",
            describe(&v)
        );
    }
    // inside one clause the negation still turns the word around
    for text in [
        "it's not bad at all",
        "the new update is not terrible, not great either",
        "non è male",
    ] {
        let v = run(&lib, text);
        assert!(
            !v.has(Label::Negative) && !v.has(Label::Complaint),
            "{text}\n{}",
            describe(&v)
        );
    }
}

#[test]
fn words_touching_an_emoji_or_a_typed_ellipsis_are_still_read() {
    let lib = library();
    let fired = |text: &str, rule: &str| {
        run(&lib, text)
            .matches
            .iter()
            .any(|m| m.rule.to_string() == rule)
    };
    // Phones type "…" and glue emoji to the word before them.
    assert!(fired(
        "@shop never again… what a joke",
        "en.complaint.generic"
    ));
    assert!(fired("@shop never again😡", "en.complaint.generic"));
    assert!(fired(
        "you guys are amazing😍 thanks",
        "en.praise.closing_thanks"
    ));
}
