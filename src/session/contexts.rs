//! The contexts API of the session object: make, list and end live interpreter contexts, and
//! the plugin endpoint's default context. The list lives in the session's SQLite; the
//! interpreters live in the executor, which starts one on a context's first run.
use super::{Answer, Session};
use crate::core::api;
use crate::core::contexts::{may_create, new_id, plugin_uses_context, ContextRow};
use crate::core::error::{ApiError, ApiResult};
use crate::platform::{now_rfc3339, random_hex};
use edgerun_protocol::Language;

impl Session {
    fn make_context(&self, language: Language, is_default: bool) -> ApiResult<ContextRow> {
        let row = self.session()?;
        let existing = self.with_store(|s| s.contexts())?.len();
        may_create(row.persistent != 0, existing)?;
        let c = ContextRow {
            id: new_id(&random_hex()),
            language: language.as_str().to_string(),
            created_at: now_rfc3339(),
            run_count: 0,
            is_default: i64::from(is_default),
        };
        self.with_store(|s| s.insert_context(&c))?;
        Ok(c)
    }

    pub(super) fn handle_create_context(&self, language: Language) -> ApiResult<Answer> {
        let c = self.make_context(language, false)?;
        Ok(Answer::json(201, &c.info()))
    }

    pub(super) fn handle_list_contexts(&self) -> ApiResult<Answer> {
        self.session()?;
        let held = self.held.borrow();
        let contexts = self
            .with_store(|s| s.contexts())?
            .iter()
            .map(|c| api::ContextInfo { checkpoint_pending: held.contains(&c.id), ..c.info() })
            .collect();
        Ok(Answer::json(200, &api::ContextList { contexts }))
    }

    /// Ends a context between runs (the queue is held): its row goes, then its interpreter (an
    /// executor that cannot be reached has none to stop that a later run could reach either:
    /// the id is unknown from now on).
    pub(super) async fn handle_delete_context(&self, sid: &str, ctx: &str) -> ApiResult<Answer> {
        self.session()?;
        let _guard = self.queue.lock().await;
        self.with_store(|s| s.context(ctx))?.ok_or_else(|| ApiError::not_found(format!("no context {ctx} in this session")))?;
        self.with_store(|s| s.delete_context(ctx))?;
        if let Ok(exec) = self.executor() {
            if exec.is_up() {
                if let Err(e) = exec.stop_context(sid, ctx).await {
                    worker::console_error!("stopping context {ctx} of {sid}: {e}");
                }
            }
        }
        Ok(Answer::json(200, &api::ContextDeleted { deleted: ctx.to_string() }))
    }

    /// The context a plugin call runs in: the session's default context of `lang` (made on
    /// first use, counted in the bound), or none (a fresh process).
    pub(super) fn plugin_context(&self, lang: Language, fresh: bool, stdin: &str) -> ApiResult<Option<String>> {
        let row = self.session()?;
        // A Node context has no standard input to give: such a call runs fresh, as before.
        let fresh = fresh || (lang == Language::Node && !stdin.is_empty());
        if !plugin_uses_context(lang, row.persistent != 0, fresh) {
            return Ok(None);
        }
        if let Some(c) = self.with_store(|s| s.default_context(lang.as_str()))? {
            return Ok(Some(c.id));
        }
        Ok(Some(self.make_context(lang, true)?.id))
    }
}
