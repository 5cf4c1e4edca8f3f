//! Counties (tenants), users, login sessions and surveys.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(County::Table)
                    .col(pk_auto(County::Id))
                    .col(string_len_uniq(County::Name, 100))
                    .col(timestamp_with_time_zone(County::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(User::Table)
                    .col(pk_auto(User::Id))
                    .col(string_len_uniq(User::Username, 64))
                    .col(string_len(User::PasswordHash, 200))
                    .col(string_len(User::Role, 16))
                    .col(integer_null(User::CountyId))
                    .col(boolean(User::Active).default(true))
                    .col(timestamp_with_time_zone(User::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(User::Table, User::CountyId)
                            .to(County::Table, County::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .col(pk_auto(Session::Id))
                    // SHA-256 of the cookie's random token: the table alone cannot log anyone in.
                    .col(string_len_uniq(Session::TokenHash, 64))
                    .col(integer(Session::UserId))
                    .col(timestamp_with_time_zone(Session::CreatedAt))
                    .col(timestamp_with_time_zone(Session::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Session::Table, Session::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Survey::Table)
                    .col(pk_auto(Survey::Id))
                    .col(integer(Survey::CountyId))
                    .col(string_len(Survey::Name, 200))
                    .col(big_integer(Survey::Population))
                    // Exact decimals: rate in parts per million (1.5‰ = 1500), shares in basis
                    // points of 1/10000 (0.5 = 5000, 0.85 = 8500).
                    .col(integer(Survey::RatePpm))
                    .col(integer(Survey::ParentShareBp))
                    .col(big_integer(Survey::Floor))
                    .col(integer(Survey::TargetBp))
                    .col(string_len(Survey::Status, 16))
                    .col(timestamp_with_time_zone_null(Survey::OpensAt))
                    .col(timestamp_with_time_zone_null(Survey::ClosesAt))
                    .col(timestamp_with_time_zone(Survey::CreatedAt))
                    .col(timestamp_with_time_zone(Survey::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Survey::Table, Survey::CountyId)
                            .to(County::Table, County::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_survey_county")
                    .table(Survey::Table)
                    .col(Survey::CountyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_user")
                    .table(Session::Table)
                    .col(Session::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Survey::Table.into_iden(),
            Session::Table.into_iden(),
            User::Table.into_iden(),
            County::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum County {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum User {
    #[sea_orm(iden = "app_user")]
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    CountyId,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    TokenHash,
    UserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Survey {
    Table,
    Id,
    CountyId,
    Name,
    Population,
    RatePpm,
    ParentShareBp,
    Floor,
    TargetBp,
    Status,
    OpensAt,
    ClosesAt,
    CreatedAt,
    UpdatedAt,
}
