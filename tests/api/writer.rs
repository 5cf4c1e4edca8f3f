//! The group-commit writer, driven directly: a batch settles retries, double answers, full
//! quotas and closed surveys exactly as single submissions would, and stores the rest at once.
use crate::answering::{answers, hidden, open_survey_with_invitations, responses};
use crate::helpers::{TestApp, backend_test, new_client};
use renke::domain::geography::AreaScope;
use renke::domain::group::{Booklet, RespondentGroup};
use renke::domain::invitation::InvitationStatus;
use renke::domain::response::{Claim, NewResponse, Source, Verdict, hour_of};
use renke::domain::survey::SurveyStatus;
use renke::domain::tally::Aggregates;
use renke::store::submissions::{Submission, store_batch};
use reqwest::StatusCode;

/// The survey's parent invitations still pending, by id.
async fn pending_parents(app: &TestApp, survey: i64) -> Vec<i32> {
    renke::store::invitations::list_live(&app.db, survey as i32, None)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.invitation)
        .filter(|i| i.group == RespondentGroup::Parent && i.status == InvitationStatus::Pending)
        .map(|i| i.id)
        .collect()
}

fn submission(survey: i64, questionnaire: i32, nonce: &str, claim: Claim) -> Submission {
    let response = NewResponse {
        survey_id: survey as i32,
        questionnaire_id: questionnaire,
        booklet: Booklet::Social,
        group: RespondentGroup::Parent,
        area: AreaScope::WholeCounty,
        area_class: None,
        school: None,
        band: None,
        source: Source::Invitation,
        channel: None,
        completion_seconds: 90,
        too_fast: false,
        straight_lined: false,
        answers: vec![("q1".into(), "A".into())],
        comment: None,
        submitted_hour: hour_of(chrono::Utc::now()),
    };
    let mut tally = Aggregates::default();
    tally.add_response(
        &response.facts(),
        |_, _| Some((true, true)),
        |_| None,
        Some("A"),
    );
    let cell = renke::domain::release::ReleaseCell::of(
        &response.facts(),
        &renke::domain::release::OwnCells::default(),
    )
    .key();
    Submission {
        nonce_hash: nonce.into(),
        claim,
        response,
        cell,
        tally,
        closes_at: None,
        limit: None,
    }
}

async fn social_questionnaire(app: &TestApp, survey: i64) -> i32 {
    renke::store::questionnaires::in_use(&app.db, survey as i32)
        .await
        .unwrap()[0]
        .1
}

backend_test! {
    async fn one_batch_settles_retries_double_answers_and_stores_the_rest(app) {
        let (_, id, _) = open_survey_with_invitations(&app).await;
        let q = social_questionnaire(&app, id).await;
        let inv = pending_parents(&app, id).await;
        let batch = vec![
            submission(id, q, "n-a", Claim::Invitation(inv[0])),
            // The same form sent twice in one batch (a double tap).
            submission(id, q, "n-a", Claim::Invitation(inv[0])),
            // A second device answering the same invitation.
            submission(id, q, "n-b", Claim::Invitation(inv[0])),
            submission(id, q, "n-c", Claim::Invitation(inv[1])),
            submission(id, q, "n-d", Claim::Invitation(inv[2])),
        ];
        let verdicts = store_batch(&app.store, &batch).await.unwrap();
        assert_eq!(
            verdicts,
            [Verdict::Stored, Verdict::Repeated, Verdict::Answered, Verdict::Stored, Verdict::Stored]
        );
        assert_eq!(responses(&app, id).await.len(), 3);
        let counted = || async {
            let tally = renke::store::tally::load(&app.db, id as i32).await.unwrap();
            tally.strata.values().map(|v| v.sums.n).sum::<i64>()
        };
        let waiting = || async { renke::store::releases::waiting(&app.db, id as i32).await.unwrap() };
        // Three in one release cell: they wait for it to hold five, each counted once there.
        assert_eq!((counted().await, waiting().await), (0, 3));

        // The next batch: a retry of a stored one is a repeat; the refused device's nonce was
        // not kept, so it is judged again (still answered).
        let again = vec![
            submission(id, q, "n-c", Claim::Invitation(inv[1])),
            submission(id, q, "n-b", Claim::Invitation(inv[0])),
            submission(id, q, "n-e", Claim::Invitation(inv[3])),
        ];
        let verdicts = store_batch(&app.store, &again).await.unwrap();
        assert_eq!(verdicts, [Verdict::Repeated, Verdict::Answered, Verdict::Stored]);
        assert_eq!(responses(&app, id).await.len(), 4);
        assert_eq!((counted().await, waiting().await), (0, 4));
        // The fifth releases the cell: all five counted once, nothing waits.
        let fifth = vec![submission(id, q, "n-f", Claim::Invitation(inv[4]))];
        assert_eq!(store_batch(&app.store, &fifth).await.unwrap(), [Verdict::Stored]);
        assert_eq!((counted().await, waiting().await), (5, 0));
    }
}

backend_test! {
    async fn a_batch_for_a_survey_closed_meanwhile_stores_nothing(app) {
        let (_, id, _) = open_survey_with_invitations(&app).await;
        let q = social_questionnaire(&app, id).await;
        let inv = pending_parents(&app, id).await;
        renke::store::surveys::change_status(&app.db, id as i32, SurveyStatus::Open, SurveyStatus::Closed)
            .await
            .unwrap();
        let batch = vec![
            submission(id, q, "n-x", Claim::Invitation(inv[0])),
            submission(id, q, "n-y", Claim::Invitation(inv[1])),
        ];
        assert_eq!(store_batch(&app.store, &batch).await.unwrap(), [Verdict::Closed, Verdict::Closed]);
        assert!(responses(&app, id).await.is_empty());
        assert_eq!(pending_parents(&app, id).await.len(), inv.len(), "no invitation was marked");
    }
}

backend_test! {
    async fn a_survey_closed_by_another_server_refuses_answers_at_once(app) {
        let (_, id, urls) = open_survey_with_invitations(&app).await;
        let client = new_client();
        let html = client.get(&urls[0]).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(&hidden(&html, "_form")));
        // Another server closes it: this server's one-second copy still says open, but the
        // writer checks at commit.
        renke::store::surveys::change_status(&app.db, id as i32, SurveyStatus::Open, SurveyStatus::Closed)
            .await
            .unwrap();
        let res = client.post(&urls[0]).form(&answers(&html, "A", &[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE);
        assert!(res.text().await.unwrap().contains("调查已结束"));
        assert!(responses(&app, id).await.is_empty());
    }
}

/// On SQLite a transaction that reads before it writes must wait for a commit made meanwhile
/// (the writer commits many times a second during a burst), not fail with "database is locked".
#[tokio::test]
async fn a_transaction_that_reads_first_waits_its_turn_to_write() {
    use renke::domain::account::CountyName;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let txn = renke::store::begin_write(&app.store).await.unwrap();
    let before = renke::entity::county::Entity::find()
        .count(&txn)
        .await
        .unwrap();
    // Another connection writes while the transaction has read but not yet written.
    let other = {
        let db = app.db.clone();
        tokio::spawn(async move {
            renke::store::counties::create(&db, &CountyName::parse("另一县").unwrap()).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    renke::store::counties::create(&txn, &CountyName::parse("本县").unwrap())
        .await
        .expect("the transaction that read first still writes");
    txn.commit().await.unwrap();
    other
        .await
        .unwrap()
        .expect("the other write waited and went through");
    let after = renke::entity::county::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(after, before + 2);
}
