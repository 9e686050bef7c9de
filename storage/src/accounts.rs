//! The [`AccountStore`](crate::AccountStore) methods — people, personal API tokens,
//! invitations and room membership — written once for both databases, like `portable.rs`.

macro_rules! user_columns {
    () => {
        "id, email, name, password_hash, role, created_at"
    };
}

macro_rules! impl_account_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::AccountStore for $store {
            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn create_user(&self, new: $crate::NewUser) -> $crate::Result<$crate::User> {
                let result = sqlx::query_as::<_, $crate::rows::UserRow>(concat!(
                    "INSERT INTO users (id, email, name, password_hash, role, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                    $crate::accounts::user_columns!()
                ))
                .bind(uuid::Uuid::now_v7())
                .bind(&new.email)
                .bind(&new.name)
                .bind(&new.password_hash)
                .bind(new.role.as_str())
                .bind($crate::now())
                .fetch_one(&self.pool)
                .await;
                $crate::error::conflict_on_duplicate(result, "a user with this email already exists")?.try_into()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn count_users(&self) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn get_user(&self, user_id: uuid::Uuid) -> $crate::Result<Option<$crate::User>> {
                sqlx::query_as::<_, $crate::rows::UserRow>(concat!(
                    "SELECT ",
                    $crate::accounts::user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn find_user_by_email(&self, email: &str) -> $crate::Result<Option<$crate::User>> {
                sqlx::query_as::<_, $crate::rows::UserRow>(concat!(
                    "SELECT ",
                    $crate::accounts::user_columns!(),
                    " FROM users WHERE email = $1"
                ))
                .bind(email)
                .fetch_optional(&self.pool)
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_users(&self, limit: i64) -> $crate::Result<Vec<$crate::User>> {
                let rows = sqlx::query_as::<_, $crate::rows::UserRow>(concat!(
                    "SELECT ",
                    $crate::accounts::user_columns!(),
                    " FROM users ORDER BY created_at, id LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn set_user_role(
                &self,
                user_id: uuid::Uuid,
                role: domain::accounts::Role,
            ) -> $crate::Result<$crate::User> {
                // The last admin cannot be demoted: someone must always be able to manage people.
                let result = sqlx::query_as::<_, $crate::rows::UserRow>(concat!(
                    "UPDATE users SET role = $2 WHERE id = $1 AND ($2 = 'admin' OR role <> 'admin' \
                     OR (SELECT COUNT(*) FROM users WHERE role = 'admin' AND id <> $1) > 0) RETURNING ",
                    $crate::accounts::user_columns!()
                ))
                .bind(user_id)
                .bind(role.as_str())
                .fetch_optional(&self.pool)
                .await?;
                match result {
                    Some(row) => row.try_into(),
                    None if self.get_user(user_id).await?.is_some() => {
                        Err($crate::StorageError::Conflict("the last admin cannot lose the admin role"))
                    }
                    None => Err($crate::StorageError::NotFound("user")),
                }
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn create_token(
                &self,
                user_id: uuid::Uuid,
                name: &str,
                token_hash: &str,
                max_per_user: i64,
            ) -> $crate::Result<domain::accounts::ApiToken> {
                let mut tx = self.pool.begin().await?;
                // Serialises one person's token creations, so the cap holds under concurrency.
                sqlx::query("UPDATE users SET role = role WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
                let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if held >= max_per_user {
                    return Err($crate::StorageError::LimitReached("the person already holds the most tokens allowed"));
                }
                let token = sqlx::query_as::<_, $crate::rows::ApiTokenRow>(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, name, created_at, last_used_at",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(user_id)
                .bind(name)
                .bind(token_hash)
                .bind($crate::now())
                .fetch_one(&mut *tx)
                .await?
                .try_into()?;
                tx.commit().await?;
                Ok(token)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_tokens(&self, user_id: uuid::Uuid) -> $crate::Result<Vec<domain::accounts::ApiToken>> {
                let rows = sqlx::query_as::<_, $crate::rows::ApiTokenRow>(
                    "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn delete_token(&self, user_id: uuid::Uuid, token_id: uuid::Uuid) -> $crate::Result<()> {
                let deleted = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
                    .bind(token_id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err($crate::StorageError::NotFound("token"));
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn user_by_token_hash(&self, token_hash: &str) -> $crate::Result<Option<$crate::User>> {
                let user_id: Option<uuid::Uuid> = sqlx::query_scalar(
                    "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 RETURNING user_id",
                )
                .bind(token_hash)
                .bind($crate::now())
                .fetch_optional(&self.pool)
                .await?;
                match user_id {
                    Some(user_id) => self.get_user(user_id).await,
                    None => Ok(None),
                }
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn invite(&self, email: &str, invited_by: uuid::Uuid) -> $crate::Result<()> {
                let result = sqlx::query("INSERT INTO invitations (email, invited_by, created_at) VALUES ($1, $2, $3)")
                    .bind(email)
                    .bind(invited_by)
                    .bind($crate::now())
                    .execute(&self.pool)
                    .await;
                $crate::error::conflict_on_duplicate(result, "this address is already invited")?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn is_invited(&self, email: &str) -> $crate::Result<bool> {
                Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM invitations WHERE email = $1")
                    .bind(email)
                    .fetch_one(&self.pool)
                    .await?
                    > 0)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn membership(
                &self,
                room_id: uuid::Uuid,
                user_id: uuid::Uuid,
            ) -> $crate::Result<Option<domain::rooms::MemberRole>> {
                sqlx::query_scalar::<_, String>("SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2")
                    .bind(room_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|role| role.parse().map_err($crate::StorageError::from))
                    .transpose()
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn list_members(&self, room_id: uuid::Uuid) -> $crate::Result<Vec<domain::accounts::Member>> {
                let rows = sqlx::query_as::<_, $crate::rows::MemberRow>(
                    "SELECT m.user_id, u.email, u.name, m.role FROM room_members m JOIN users u ON u.id = m.user_id \
                     WHERE m.room_id = $1 ORDER BY m.id",
                )
                .bind(room_id)
                .fetch_all(&self.pool)
                .await?;
                $crate::rows::convert_all(rows)
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn add_member(
                &self,
                room_id: uuid::Uuid,
                user_id: uuid::Uuid,
                role: domain::rooms::MemberRole,
            ) -> $crate::Result<()> {
                let result =
                    sqlx::query("INSERT INTO room_members (id, room_id, user_id, role) VALUES ($1, $2, $3, $4)")
                        .bind(uuid::Uuid::now_v7())
                        .bind(room_id)
                        .bind(user_id)
                        .bind(role.as_str())
                        .execute(&self.pool)
                        .await;
                $crate::error::conflict_on_duplicate(result, "the person is already a member of this room")?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn set_member_role(
                &self,
                room_id: uuid::Uuid,
                user_id: uuid::Uuid,
                role: domain::rooms::MemberRole,
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin().await?;
                lock_members(&mut *tx, room_id).await?;
                let current = member_role(&mut *tx, room_id, user_id).await?;
                if current == domain::rooms::MemberRole::Owner
                    && role != domain::rooms::MemberRole::Owner
                    && count_owners(&mut *tx, room_id).await? <= 1
                {
                    return Err($crate::StorageError::Conflict("a room keeps at least one owner"));
                }
                sqlx::query("UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2")
                    .bind(room_id)
                    .bind(user_id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err(level = "debug"))]
            async fn remove_member(&self, room_id: uuid::Uuid, user_id: uuid::Uuid) -> $crate::Result<()> {
                let mut tx = self.pool.begin().await?;
                lock_members(&mut *tx, room_id).await?;
                let current = member_role(&mut *tx, room_id, user_id).await?;
                if current == domain::rooms::MemberRole::Owner && count_owners(&mut *tx, room_id).await? <= 1 {
                    return Err($crate::StorageError::Conflict("a room keeps at least one owner"));
                }
                sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2")
                    .bind(room_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }

        /// Serialises membership changes of one room (the room row's write lock on PostgreSQL,
        /// the database write lock on SQLite), so two owners cannot both step down at once.
        async fn lock_members<'c, E>(executor: E, room_id: uuid::Uuid) -> $crate::Result<()>
        where
            E: sqlx::Executor<'c, Database = <$store as $crate::portable::HasDatabase>::Database>,
        {
            let locked = sqlx::query("UPDATE rooms SET visibility = visibility WHERE id = $1")
                .bind(room_id)
                .execute(executor)
                .await?;
            if locked.rows_affected() == 0 {
                return Err($crate::StorageError::NotFound("room"));
            }
            Ok(())
        }

        async fn member_role<'c, E>(
            executor: E,
            room_id: uuid::Uuid,
            user_id: uuid::Uuid,
        ) -> $crate::Result<domain::rooms::MemberRole>
        where
            E: sqlx::Executor<'c, Database = <$store as $crate::portable::HasDatabase>::Database>,
        {
            let role: Option<String> =
                sqlx::query_scalar("SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2")
                    .bind(room_id)
                    .bind(user_id)
                    .fetch_optional(executor)
                    .await?;
            Ok(role.ok_or($crate::StorageError::NotFound("member"))?.parse()?)
        }

        async fn count_owners<'c, E>(executor: E, room_id: uuid::Uuid) -> $crate::Result<i64>
        where
            E: sqlx::Executor<'c, Database = <$store as $crate::portable::HasDatabase>::Database>,
        {
            Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM room_members WHERE room_id = $1 AND role = 'owner'")
                .bind(room_id)
                .fetch_one(executor)
                .await?)
        }
    };
}

pub(crate) use {impl_account_store, user_columns};
