/*-------------------------------------------------------------------------
 *
 * statement_source.c
 *	  A statement file, line by line: the text given to
 *	  paycons.load_statement(), or the rows of the upload table given to
 *	  paycons.load_statement_upload() (column "line" in the order of
 *	  column "line_no"), read through an SPI cursor a batch at a time.
 *
 * An upload table is read in its physical order first: a table filled by
 * COPY has its rows there in line_no order, and sorting a large one costs
 * more than the rest of the read.  The order is checked row by row; the
 * first row out of it stops the read (StmtSource.disordered), and the
 * caller reads the table again sorted.
 *
 * The upload table is read by the extension owner (the loader runs as the
 * owner), so it is checked here first: a plain or partitioned table with
 * the two columns, which the caller may read in full (SELECT on it or on
 * both columns, and no row-level security).
 *
 * IDENTIFICATION
 *	  src/statement_source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"

#include "as_owner.h"
#include "errcodes.h"
#include "statement_parse.h"
#include "statement_source.h"

/* Rows fetched from an upload table at a time */
#define STMT_FETCH			10000

void
StmtSourceSetContent(StmtSource *src, const char *content, size_t len)
{
	memset(src, 0, sizeof(StmtSource));
	src->content = content;
	src->content_len = len;
}

void
StmtSourceSetUpload(StmtSource *src, Oid relid)
{
	char		relkind;
	AttrNumber	line_att,
				no_att;
	Oid			line_type,
				no_type;
	char	   *nspname;
	char	   *relname;

	relkind = get_rel_relkind(relid);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("upload table with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_BAD_UPLOAD),
				 errmsg("\"%s\" is not a table", relname),
				 errhint("Create the upload table as CREATE TEMP TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text).")));
	line_att = get_attnum(relid, "line");
	no_att = get_attnum(relid, "line_no");
	line_type = line_att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, line_att);
	no_type = no_att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, no_att);
	if (line_type != TEXTOID ||
		(no_type != INT2OID && no_type != INT4OID && no_type != INT8OID))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_BAD_UPLOAD),
				 errmsg("upload table \"%s\" must have the columns line (text) and line_no (an integer)",
						relname),
				 errhint("Create the upload table as CREATE TEMP TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text).")));
	/*
	 * The table is read by the owner, so the caller must be allowed to read
	 * it, all of it: SELECT on both columns, and no row-level security that
	 * would show the caller less than the owner sees.
	 */
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		(pg_attribute_aclcheck(relid, line_att, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		 pg_attribute_aclcheck(relid, no_att, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for upload table \"%s\"", relname)));
	if (check_enable_rls(relid, InvalidOid, true) != RLS_NONE ||
		check_enable_rls(relid, PayconsOwnerOid(), true) != RLS_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_BAD_UPLOAD),
				 errmsg("upload table \"%s\" has row-level security", relname),
				 errhint("Load the file into a plain table, such as a temporary one.")));
	nspname = get_namespace_name(get_rel_namespace(relid));
	memset(src, 0, sizeof(StmtSource));
	src->upload = relid;
	src->upload_sql = psprintf("SELECT CAST(u.line_no AS pg_catalog.int8), u.line FROM %s u",
							   quote_qualified_identifier(nspname, relname));
	src->upload_sorted_sql = psprintf("%s ORDER BY u.line_no", src->upload_sql);
}

/* Start reading the file from its first line */
void
StmtSourceOpen(StmtSource *src)
{
	src->pos = 0;
	if (!OidIsValid(src->upload))
		return;

	/* the caller's right to read it was checked (StmtSourceSetUpload) */
	src->portal = SPI_cursor_open_with_args(NULL,
											src->sorted ? src->upload_sorted_sql : src->upload_sql,
											0, NULL, NULL, NULL, true, 0);
	src->rows = NULL;
	src->nrows = src->row = 0;
	src->disordered = false;
	src->last_line_no = PG_INT64_MIN;
}

/* Stop reading: the rest of the table is not read */
static bool
stmt_source_end(StmtSource *src)
{
	if (src->rows != NULL)
		SPI_freetuptable(src->rows);
	src->rows = NULL;
	if (src->portal != NULL)
		SPI_cursor_close(src->portal);
	src->portal = NULL;
	return false;
}

bool
StmtSourceNext(StmtSource *src, const char **line, size_t *len)
{
	if (!OidIsValid(src->upload))
		return StmtNextLine(src->content, src->content_len, &src->pos, line,
							len);

	for (;;)
	{
		if (src->rows != NULL && src->row < src->nrows)
		{
			HeapTuple	tup = src->rows->vals[src->row];
			bool		isnull;
			Datum		no = SPI_getbinval(tup, src->rows->tupdesc, 1, &isnull);
			Datum		d;

			/*
			 * Read in the table's physical order, the rows must come in
			 * strictly increasing line_no (as COPY into an identity column
			 * leaves them); else the caller reads it again sorted.
			 */
			if (!src->sorted)
			{
				if (isnull || DatumGetInt64(no) <= src->last_line_no)
				{
					src->disordered = true;
					return stmt_source_end(src);
				}
				src->last_line_no = DatumGetInt64(no);
			}
			d = SPI_getbinval(tup, src->rows->tupdesc, 2, &isnull);
			src->row++;
			if (isnull)
			{
				*line = "";
				*len = 0;
			}
			else
			{
				text	   *t = DatumGetTextPP(d);

				*line = VARDATA_ANY(t);
				*len = VARSIZE_ANY_EXHDR(t);
				/* a line copied with its CR */
				if (*len > 0 && (*line)[*len - 1] == '\r')
					(*len)--;
			}
			return true;
		}
		if (src->rows != NULL)
		{
			SPI_freetuptable(src->rows);
			src->rows = NULL;
		}
		if (src->portal == NULL)
			return false;
		SPI_cursor_fetch(src->portal, true, STMT_FETCH);
		src->rows = SPI_tuptable;
		src->nrows = SPI_processed;
		src->row = 0;
		if (src->nrows == 0)
			return stmt_source_end(src);
	}
}
