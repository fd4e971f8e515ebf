//! Notes in the database: the table, and the four queries per backend.
//!
//! The queries are the same diesel DSL for every backend except the insert: PostgreSQL and
//! SQLite return the new row with `RETURNING`, MySQL has no `RETURNING` and reads
//! `LAST_INSERT_ID()` of the same connection instead.

use std::future::Future;

use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel_async::{AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use tenantpool::{Backend, SqliteConnection};

diesel::table! {
    notes (id) {
        id -> BigInt,
        text -> Text,
    }
}

/// One note.
///
/// ```
/// let note = tenantpool_notes::Note { id: 1, text: "hello".into() };
/// assert_eq!(serde_json::to_string(&note)?, r#"{"id":1,"text":"hello"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = notes)]
pub struct Note {
    /// The note's id, unique within its tenant.
    pub id: i64,
    /// The note.
    pub text: String,
}

/// The queries of the notes API, for one connection type: the store both web frameworks
/// serve. The futures are `Send`, as axum's handlers need.
///
/// ```no_run
/// use tenantpool_notes::NotesStore;
/// # async fn f(conn: &mut tenantpool::SqliteConnection) -> diesel::QueryResult<()> {
/// let note = conn.create("hello").await?;
/// assert_eq!(conn.find(note.id).await?, Some(note));
/// # Ok(()) }
/// ```
pub trait NotesStore: Backend {
    /// Every note, oldest first.
    fn list(&mut self) -> impl Future<Output = QueryResult<Vec<Note>>> + Send;
    /// Adds a note.
    fn create(&mut self, text: &str) -> impl Future<Output = QueryResult<Note>> + Send;
    /// One note, if it exists.
    fn find(&mut self, id: i64) -> impl Future<Output = QueryResult<Option<Note>>> + Send;
    /// Removes a note; `false` when it did not exist.
    fn remove(&mut self, id: i64) -> impl Future<Output = QueryResult<bool>> + Send;
}

macro_rules! shared_queries {
    () => {
        async fn list(&mut self) -> QueryResult<Vec<Note>> {
            notes::table
                .order(notes::id)
                .select(Note::as_select())
                .load(self)
                .await
        }

        async fn find(&mut self, id: i64) -> QueryResult<Option<Note>> {
            notes::table
                .find(id)
                .select(Note::as_select())
                .first(self)
                .await
                .optional()
        }

        async fn remove(&mut self, id: i64) -> QueryResult<bool> {
            Ok(diesel::delete(notes::table.find(id)).execute(self).await? > 0)
        }
    };
}

impl NotesStore for SqliteConnection {
    shared_queries!();

    async fn create(&mut self, text: &str) -> QueryResult<Note> {
        diesel::insert_into(notes::table)
            .values(notes::text.eq(text))
            .returning(Note::as_returning())
            .get_result(self)
            .await
    }
}

impl NotesStore for AsyncPgConnection {
    shared_queries!();

    async fn create(&mut self, text: &str) -> QueryResult<Note> {
        diesel::insert_into(notes::table)
            .values(notes::text.eq(text))
            .returning(Note::as_returning())
            .get_result(self)
            .await
    }
}

impl NotesStore for AsyncMysqlConnection {
    shared_queries!();

    async fn create(&mut self, text: &str) -> QueryResult<Note> {
        diesel::insert_into(notes::table)
            .values(notes::text.eq(text))
            .execute(self)
            .await?;
        // LAST_INSERT_ID() belongs to this connection: no other request can interleave.
        notes::table
            .filter(notes::id.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(LAST_INSERT_ID() AS SIGNED)",
            )))
            .select(Note::as_select())
            .first(self)
            .await
    }
}
